"""Semantic cover search: input validation, the search service, a CLI and a small web app."""
