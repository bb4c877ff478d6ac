"""``book-assets``: the project's command line (``serve`` the search page, ``quickstart`` the graph)."""
from __future__ import annotations

import sys
from typing import Sequence

USAGE = """usage: book-assets COMMAND [ARGS]

commands:
  serve        start the search web page on http://127.0.0.1:8008/ (see `book-assets serve --help`)
  quickstart   materialize the whole graph on the embedded defaults (see `book-assets quickstart --help`)
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "serve":
        from book_assets.search.web import main as serve_main

        return serve_main(rest)
    if command == "quickstart":
        from book_assets.quickstart import main as quickstart_main

        return quickstart_main(rest)
    print(f"book-assets: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
