"""Getting the OpenLibrary dump files onto local disk and staging them for parallel Spark reads."""
