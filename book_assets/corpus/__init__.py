"""A deterministic synthetic OpenLibrary dump (editions, works, authors) with a ground-truth
manifest, for tests and benchmarks; ``python -m book_assets.corpus`` writes one."""
from book_assets.corpus.generator import CorpusManifest, generate_corpus

__all__ = ["CorpusManifest", "generate_corpus"]
