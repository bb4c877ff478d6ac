"""``book-search``: search the cover index from the command line.

    book-search "a lonely robot on a red planet" --years 2018-2020 --top-k 10 [--json]
    book-search --like /books/OL123M [--years 2019] [--json]

Prints a table (rank, score, title, authors, year, edition key) or, with ``--json``, a list of
objects. Bad input exits with status 2 and a one-line message on stderr; a set-up problem (no
collection, Milvus unreachable, CLIP model missing, an index built with another model) or an
edition not in the index exits with status 1 and a one-line message.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import unicodedata
from typing import Callable, Sequence

from pymilvus.exceptions import MilvusException

from book_assets.search import validation
from book_assets.search.api import MissingCollection, SearchResult, SearchService

JSON_FIELDS = ("score", "title", "authors", "year", "edition_key", "cover_url", "cover_id", "work_key")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: same exit code 2, our format
        self.print_usage(sys.stderr)
        self.exit(2, f"book-search: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="book-search", description="Semantic search over book covers (CLIP + Milvus).")
    parser.add_argument("query", nargs="?", help="what the cover should look like, in words")
    parser.add_argument("--years", default=None, help="publication years, e.g. 2018-2020 or 2019")
    parser.add_argument("--top-k", default="10", help=f"number of results ({validation.MIN_TOP_K}-{validation.MAX_TOP_K})")
    parser.add_argument("--like", metavar="EDITION_KEY", help="covers similar to this edition, e.g. /books/OL123M")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


#: Failures while searching that are not the user's input: one line on stderr, exit status 1.
USE_ERRORS = (MilvusException, OSError, RuntimeError)


def printable(text: str) -> str:
    """``text`` without control and format characters (Unicode category C*: escape sequences,
    bidi overrides, ...) and with runs of white space as one space; other letters are kept."""
    chars = (" " if ch.isspace() else "" if unicodedata.category(ch).startswith("C") else ch for ch in str(text))
    return " ".join("".join(chars).split())


def _clip(text: str, width: int) -> str:
    text = printable(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _describe(exc: BaseException) -> str:
    """One line for ``exc``; the Milvus token never appears in it."""
    text = printable(str(getattr(exc, "message", None) or exc)) or type(exc).__name__
    token = os.environ.get("BOOK_ASSETS_MILVUS_TOKEN", "")
    return text.replace(token, "***") if token else text


def _fail(message: str) -> int:
    print(f"book-search: {message}", file=sys.stderr)
    return 1


def format_table(results: Sequence[SearchResult]) -> str:
    if not results:
        return "no results"
    header = f"{'#':>3}  {'score':>6}  {'title':<40}  {'authors':<28}  {'year':>4}  edition key"
    lines = [header, "-" * len(header)]
    for rank, r in enumerate(results, 1):
        lines.append(
            f"{rank:>3}  {r.score:>6.3f}  {_clip(r.title, 40):<40}  "
            f"{_clip('; '.join(r.authors), 28):<28}  {r.year:>4}  {r.edition_key}"
        )
    return "\n".join(lines)


def format_json(results: Sequence[SearchResult]) -> str:
    return json.dumps(
        [{k: r.to_dict()[k] for k in JSON_FIELDS} for r in results], ensure_ascii=False, indent=2
    )


def main(
    argv: Sequence[str] | None = None,
    service_factory: Callable[[], SearchService] | None = None,
) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 not found/failure, 2 bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or an argparse usage error (2)
        return int(exc.code or 0)
    try:
        if bool(args.query) == bool(args.like):
            raise ValueError("give either a query or --like EDITION_KEY (not both)")
        years = validation.parse_year_range(args.years) if args.years else None
        top_k = validation.check_top_k(args.top_k)
        query = validation.check_query(args.query) if args.query else None
        like = validation.check_edition_key(args.like) if args.like else None
    except ValueError as exc:
        print(f"book-search: error: {exc}", file=sys.stderr)
        return 2

    try:
        if service_factory is not None:
            service = service_factory()
        else:
            service = SearchService.from_settings(require_collection=True)
    except MissingCollection as exc:
        return _fail(_describe(exc))
    except Exception as exc:  # Milvus unreachable, model missing, ...: set-up, not bad input
        return _fail(f"cannot start the search: {type(exc).__name__}: {_describe(exc)}")
    try:
        if service_factory is not None and not service.store.has_collection():  # from_settings checked
            raise MissingCollection(service.store.collection, service.store.uri)
        if like is not None:
            results = service.more_like_this(like, years=years, top_k=top_k)
        else:
            results = service.search(query, years=years, top_k=top_k)
    except LookupError as exc:
        return _fail(_describe(exc))
    except USE_ERRORS as exc:  # e.g. "query vector has 16 dims, collection has 32"
        return _fail(f"search failed: {type(exc).__name__}: {_describe(exc)}")
    except ValueError as exc:
        print(f"book-search: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if service_factory is None:
            service.close()
    print(format_json(results) if args.json else format_table(results))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
