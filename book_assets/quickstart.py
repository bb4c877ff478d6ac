"""Materialize the whole graph on the embedded defaults (local Spark, Milvus Lite, local disk).

``python -m book_assets.quickstart`` reads OpenLibrary's latest dumps (the first
``BOOK_ASSETS_SAMPLE_LINES`` lines, 2,000,000 unless set), the covers service and the CLIP model
from the internet. ``--offline`` runs the same graph with no internet: a generated dump, the
covers in ``../shared/data/covers`` served from a loopback server, and a tiny CLIP built locally
(it needs the repository checkout: the loopback server and tiny CLIP live in ``tests/support``).
Runs are recorded in ``$DAGSTER_HOME`` (default ``./.dagster_home``) so the Dagster UI shows them.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DAGSTER_YAML_TEMPLATE = REPO / "dagster_home" / "dagster.yaml"


def prepare_dagster_home() -> Path:
    """``$DAGSTER_HOME`` (default ``./.dagster_home``) with the project's dagster.yaml."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path.cwd() / ".dagster_home"))).resolve()
    os.environ["DAGSTER_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        shutil.copy(DAGSTER_YAML_TEMPLATE, target)
    return home


def demo_corpus(corpus_dir: Path, years: str, n_editions: int = 3000) -> Path:
    """The offline demo's generated dump for the ``BOOK_ASSETS_YEARS`` spec ``years``.

    ``years`` is read by the project's year parser (``2019``, ``2019-2020``, ``2015,2018-2020``;
    empty = the default years). A corpus already there is reused only if it was generated for
    the same years; the manifest is written last, so a half-written corpus is generated again.
    """
    from book_assets.corpus.generator import CorpusManifest, generate_corpus
    from book_assets.settings import parse_years

    wanted = parse_years(years)
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        if sorted(int(y) for y in CorpusManifest.load(corpus_dir).years) == wanted:
            return corpus_dir
    generate_corpus(corpus_dir, n_editions=n_editions, seed=1, years=tuple(wanted))
    return corpus_dir


@contextlib.contextmanager
def offline_sources(data_home: Path, years: str):
    """Generated dump + loopback cover server + tiny CLIP, exported as BOOK_ASSETS_* env vars."""
    sys.path.insert(0, str(REPO))
    from tests.support.cover_server import CoverServer
    from tests.support.tiny_clip import build_tiny_clip

    corpus_dir = demo_corpus(data_home / "demo" / "corpus", years)
    clip_dir = build_tiny_clip(data_home / "demo" / "tiny_clip")
    covers = (REPO / ".." / "shared" / "data" / "covers").resolve()
    with CoverServer(covers) as server:
        os.environ.update({
            "BOOK_ASSETS_EDITIONS_DUMP": str(corpus_dir / "editions.txt.gz"),
            "BOOK_ASSETS_WORKS_DUMP": str(corpus_dir / "works.txt.gz"),
            "BOOK_ASSETS_AUTHORS_DUMP": str(corpus_dir / "authors.txt.gz"),
            "BOOK_ASSETS_COVER_URL_TEMPLATE": server.url_template,
            "BOOK_ASSETS_CLIP_MODEL": str(clip_dir),
            "BOOK_ASSETS_COVERS_RPS": os.environ.get("BOOK_ASSETS_COVERS_RPS", "100"),
            "BOOK_ASSETS_CURRENT_YEAR": "2026",
            "BOOK_ASSETS_PART_LINES": "2000",
            "BOOK_ASSETS_MAX_MALFORMED_RATE": "0.05",
            # A few hundred covers a year: exact search, where IVF_FLAT would train 128 lists on
            # them and faiss would print a warning into the search CLI's output.
            "BOOK_ASSETS_MILVUS_INDEX": os.environ.get("BOOK_ASSETS_MILVUS_INDEX", "FLAT"),
        })
        yield


def materialize_everything() -> bool:
    """The raw asset, then every year of the four partitioned assets in one range run."""
    from dagster import DagsterInstance, materialize

    from book_assets.definitions import defs
    from book_assets.partitions import year_partitions

    instance = DagsterInstance.get()
    assets = list(defs.assets)
    resources = defs.resources
    raw = [a for a in assets if a.key.to_user_string() == "openlibrary_dump"]
    partitioned = [a for a in assets if a.key.to_user_string() != "openlibrary_dump"]
    if not materialize(raw, resources=resources, instance=instance).success:
        return False
    keys = year_partitions.get_partition_keys()
    result = materialize(
        assets, selection=partitioned, resources=resources, instance=instance,
        tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
        raise_on_error=False,
    )
    return result.success


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="book-assets quickstart", description=__doc__.splitlines()[0])
    parser.add_argument("--offline", action="store_true", help="no internet: generated dump, local covers, tiny CLIP")
    args = parser.parse_args(argv)
    os.environ.setdefault("DAGSTER_TELEMETRY_DISABLED", "1")
    data_home = Path(os.environ.setdefault("BOOK_ASSETS_HOME", str(Path.cwd() / "data"))).resolve()
    os.environ["BOOK_ASSETS_HOME"] = str(data_home)
    dagster_home = prepare_dagster_home()
    if args.offline:
        os.environ.setdefault("BOOK_ASSETS_YEARS", "2019-2020")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        context = offline_sources(data_home, os.environ["BOOK_ASSETS_YEARS"])
    else:
        os.environ.setdefault("BOOK_ASSETS_SAMPLE_LINES", "2000000")
        context = contextlib.nullcontext()
    with context:
        ok = materialize_everything()
    print()
    print("Graph materialized." if ok else "Some steps failed: see the run in the Dagster UI.")
    print(f"  data:        {data_home}")
    print(f"  Dagster UI:  DAGSTER_HOME={dagster_home} .venv/bin/dagster dev -w workspace.yaml   (then open http://127.0.0.1:3000)")
    print( "  search CLI:  .venv/bin/book-search \"a lonely robot on a red planet\" --top-k 10")
    print( "  search page: .venv/bin/book-assets serve   (then open http://127.0.0.1:8008/)")
    if args.offline:
        env_file = write_env_file(data_home, dagster_home)
        print(f"  offline demo: first `source {env_file}` so the UI and search use the demo data and tiny CLIP")
        print("  (the loopback cover server stopped with this command, so thumbnails will not load)")
    return 0 if ok else 1


def write_env_file(data_home: Path, dagster_home: Path) -> Path:
    """Shell exports of the demo's settings, for the UI and search commands that follow."""
    names = ["BOOK_ASSETS_HOME", "BOOK_ASSETS_YEARS", "BOOK_ASSETS_CLIP_MODEL", "BOOK_ASSETS_EDITIONS_DUMP",
             "BOOK_ASSETS_WORKS_DUMP", "BOOK_ASSETS_AUTHORS_DUMP", "BOOK_ASSETS_CURRENT_YEAR",
             "BOOK_ASSETS_PART_LINES", "BOOK_ASSETS_MAX_MALFORMED_RATE", "BOOK_ASSETS_MILVUS_INDEX",
             "HF_HUB_OFFLINE"]
    lines = [f"export {n}={shlex.quote(os.environ[n])}" for n in names if n in os.environ]
    lines.append(f"export DAGSTER_HOME={shlex.quote(str(dagster_home))}")
    path = data_home / "demo" / "env.sh"
    path.write_text("\n".join(lines) + "\n")
    return path


if __name__ == "__main__":
    raise SystemExit(main())
