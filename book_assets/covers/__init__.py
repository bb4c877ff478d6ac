"""Cover images: validation (images), content-addressed cache (cache), rate limiting (rate_limit)
and the polite bulk downloader (download) that feeds the CLIP embedding assets."""
from book_assets.covers.cache import CacheEntry, CoverCache
from book_assets.covers.download import CoverDownloader, DownloadOutcome, DownloadSettings
from book_assets.covers.images import ImageVerdict, inspect_image
from book_assets.covers.rate_limit import RateLimiter

__all__ = [
    "CacheEntry",
    "CoverCache",
    "CoverDownloader",
    "DownloadOutcome",
    "DownloadSettings",
    "ImageVerdict",
    "RateLimiter",
    "inspect_image",
]
