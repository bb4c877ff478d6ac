"""CLI: ``python -m book_assets.corpus --out DIR --editions N --seed S [--years 2019,2020]``."""
from __future__ import annotations

import argparse
import sys
import time

from book_assets.corpus.generator import generate_corpus
from book_assets.settings import parse_years


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m book_assets.corpus", description=__doc__)
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--editions", type=int, required=True, help="number of valid edition records")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--years", default="2019,2020", help="selected years, e.g. 2019,2020 or 2015-2024")
    parser.add_argument("--current-year", type=int, default=2026, help="years after this are 'future'")
    args = parser.parse_args(argv)
    if args.editions < 0:
        parser.error("--editions must be >= 0")
    try:
        years = parse_years(args.years)
    except ValueError as exc:
        parser.error(str(exc))
    started = time.monotonic()
    manifest = generate_corpus(args.out, args.editions, seed=args.seed, years=years,
                               current_year=args.current_year)
    print(
        f"wrote {args.out}: lines {manifest.line_counts}, expected fiction per year "
        f"{manifest.expected_fiction_counts} in {time.monotonic() - started:.1f}s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
