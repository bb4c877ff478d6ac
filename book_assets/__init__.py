"""book_assets: a Dagster asset graph from the OpenLibrary dump to a CLIP cover search."""
