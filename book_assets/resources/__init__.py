"""Dagster resources, one module each: settings, the Spark job launcher, Milvus."""
