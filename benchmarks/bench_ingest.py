"""Benchmark 1: dump filter throughput (staging + the Spark ingest/fiction filter).

    .venv/bin/python benchmarks/bench_ingest.py [--editions 2000000] [--seed 8] [--master local[2]]
    .venv/bin/python benchmarks/bench_ingest.py --smoke          # tiny, for the test suite

Over a generated dump (``python -m book_assets.corpus``; editions + the matching works and
authors dumps, generated once and cached under the work folder) it measures, in ONE command so
that machine load hits every row alike:

* ``decompress floor (isal)``: reading every dump file, decompressing and counting lines only;
* ``decompress (stdlib gzip)``: the same with Python's zlib-based ``gzip``;
* ``python baseline``: one plain Python process: ``gzip`` + ``json.loads`` per line + the
  project's own filter functions in the job's order (``edition_precheck`` on every edition,
  ``edition_fields`` on the candidates only, ``is_fiction`` after the work join by dict) -- the
  "same filter" as the job, with the same per-line work, in one process;
* ``staging, line by line (seed)``: the original staging loop (stdlib gzip, one line at a time);
* ``staging``: ``book_assets.dump.staging.stage_dump`` splitting each .gz into parts (isal,
  whole blocks of lines);
* ``spark job``: ``spark-submit --master local[2] book_assets/emr/fiction_job.py`` over the
  staged parts (JVM start-up included; it writes the year partitions and verifies them);
* ``staging + spark``: the whole ingest step as the ``openlibrary_dump`` + ``recent_fiction``
  assets run it.

lines/s always counts ALL lines of the three dumps. The kept-row count of every row that filters
is checked against the generator's manifest (``kept ok``).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_WORK, Timer, log, print_table, ratio  # noqa: E402

KINDS = ("editions", "works", "authors")


def ensure_corpus(root: Path, editions: int, seed: int, years: str) -> Path:
    """Generate (once) the corpus for these arguments; returns its folder."""
    from book_assets.corpus.generator import MANIFEST_FILE

    folder = root / f"corpus-{editions}-s{seed}-{years.replace(',', '_')}"
    if (folder / MANIFEST_FILE).exists():
        return folder
    log(f"generating {editions:,} editions into {folder} (once; not timed)")
    cmd = [sys.executable, "-m", "book_assets.corpus", "--out", str(folder) + ".tmp", "--editions", str(editions),
           "--seed", str(seed), "--years", years]
    shutil.rmtree(str(folder) + ".tmp", ignore_errors=True)
    subprocess.run(cmd, check=True, cwd=Path(__file__).resolve().parents[1])
    os.replace(str(folder) + ".tmp", folder)
    return folder


def dump_files(corpus: Path) -> list[Path]:
    from book_assets.corpus.generator import FILES

    return [corpus / FILES[k] for k in KINDS]


def decompress_count(files: list[Path], use_isal: bool) -> int:
    """Decompress every file, counting newlines only: the floor for any line-based reader."""
    if use_isal:
        from isal import igzip as gz
    else:
        gz = gzip
    lines = 0
    for path in files:
        with gz.open(path, "rb") as fh:
            while True:
                chunk = fh.read(1 << 20)
                if not chunk:
                    break
                lines += chunk.count(b"\n")
    return lines


def python_baseline(corpus: Path, years: set[int], current_year: int) -> tuple[int, Counter]:
    """The plain single-process way: gzip + json.loads per line + the project's filter."""
    from book_assets.openlibrary.fiction import is_fiction
    from book_assets.openlibrary.records import author_fields, edition_fields, edition_precheck, work_fields

    def records(path: Path, record_type: str):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                parts = line.rstrip("\r\n").split("\t", 4)
                if len(parts) != 5:
                    yield None, None
                    continue
                try:
                    data = json.loads(parts[4])
                except ValueError:
                    yield None, None
                    continue
                if not isinstance(data, dict) or parts[0] != record_type:
                    yield None, None
                    continue
                yield parts[1], data

    files = dict(zip(KINDS, dump_files(corpus)))
    lines = 0
    candidates = []
    for key, data in records(files["editions"], "/type/edition"):
        lines += 1
        if key is None:
            continue
        # the job's order: the one-field checks first, the full extraction for candidates only
        if edition_precheck(data, years, current_year) is None:
            candidates.append(edition_fields(key, data, current_year))
    needed = {c["work_key"] for c in candidates if c["work_key"]}
    works = {}
    for key, data in records(files["works"], "/type/work"):
        lines += 1
        if key is not None and key in needed:
            works.setdefault(key, work_fields(key, data))
    names = {}
    for key, data in records(files["authors"], "/type/author"):
        lines += 1
        if key is not None:
            names[key] = author_fields(key, data)["name"]
    kept: Counter = Counter()
    seen = set()
    for c in candidates:
        work = works.get(c["work_key"]) or {}
        if c["edition_key"] in seen or not is_fiction(list(c["subjects"]) + list(work.get("subjects") or [])):
            continue
        seen.add(c["edition_key"])
        kept[c["year"]] += 1
    return lines, kept


def run_staging(corpus: Path, out: Path, part_lines: int) -> tuple[int, dict]:
    from book_assets.dump.staging import stage_dump

    total, parts = 0, {}
    for kind, path in zip(KINDS, dump_files(corpus)):
        target = out / kind
        shutil.rmtree(target, ignore_errors=True)
        staged = stage_dump(kind, path, str(path), f"bench-{os.getpid()}", target, part_lines=part_lines)
        total += staged.lines
        parts[kind] = staged.parts
    return total, parts


def seed_staging(corpus: Path, out: Path, part_lines: int) -> int:
    """The seed's staging loop, for comparison: stdlib gzip, line by line (UTF-8 check included)."""
    total = 0
    for kind, path in zip(KINDS, dump_files(corpus)):
        target = out / kind
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        parts = in_part = 0
        dst = None
        with gzip.open(path, "rb") as stream:
            for line in stream:
                if not line.isascii():
                    try:
                        line.decode("utf-8")
                    except UnicodeDecodeError:
                        continue
                if dst is None or in_part >= part_lines:
                    if dst is not None:
                        dst.close()
                    dst = gzip.open(target / f"part-{parts:05d}.txt.gz", "wb", compresslevel=1)
                    parts += 1
                    in_part = 0
                dst.write(line if line.endswith(b"\n") else line + b"\n")
                in_part += 1
                total += 1
        if dst is not None:
            dst.close()
    shutil.rmtree(out, ignore_errors=True)
    return total


def run_spark(staged: Path, warehouse: Path, years: list[int], current_year: int, master: str,
              driver_memory: str) -> dict:
    """spark-submit the real fiction job exactly as the launcher resource builds the command."""
    from book_assets.emr.job_runtime import REPORT_PREFIX
    from book_assets.resources.spark import SparkLauncher, spark_home

    launcher = SparkLauncher(master=master, driver_memory=driver_memory,
                             spark_conf={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "8"})
    cmd = launcher.submit_command("fiction", [
        "--editions", str(staged / "editions"), "--works", str(staged / "works"),
        "--authors", str(staged / "authors"), "--warehouse", str(warehouse),
        "--years", ",".join(map(str, years)), "--current-year", str(current_year),
    ])
    env = {**os.environ, "SPARK_HOME": os.environ.get("SPARK_HOME") or spark_home(),
           "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    env.pop("DAGSTER_PIPES_CONTEXT", None)
    env.pop("DAGSTER_PIPES_MESSAGES", None)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-5000:])
        raise SystemExit(f"spark job failed with exit code {proc.returncode}")
    for line in proc.stdout.splitlines():
        if line.startswith(REPORT_PREFIX):
            return json.loads(line[len(REPORT_PREFIX):])
    raise SystemExit("spark job printed no report")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--editions", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--years", default="2015-2024", help="generator years (all are selected)")
    parser.add_argument("--part-lines", type=int, default=500_000, help="staging part size (the pipeline default)")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK / "ingest")
    parser.add_argument("--corpus", type=Path, default=None, help="use this generated corpus folder")
    parser.add_argument("--skip", default="", help="comma list of rows to skip: baseline,stdlib,seed-staging,spark")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (for the test suite)")
    args = parser.parse_args(argv)
    skip = {s for s in args.skip.split(",") if s}
    if args.smoke:
        args.editions, args.part_lines = 3000, 1500
        if args.work_dir == DEFAULT_WORK / "ingest":
            args.work_dir = Path(tempfile.mkdtemp(prefix="bench_ingest_"))

    from book_assets.corpus.generator import CorpusManifest

    args.work_dir.mkdir(parents=True, exist_ok=True)
    corpus = args.corpus or ensure_corpus(args.work_dir, args.editions, args.seed, args.years)
    manifest = CorpusManifest.load(corpus)
    years = sorted(manifest.years)
    expected = {int(y): n for y, n in manifest.expected_fiction_counts.items()}
    total_lines = sum(manifest.line_counts.values())
    size = sum(p.stat().st_size for p in dump_files(corpus))
    log(f"corpus {corpus}: {manifest.line_counts} lines, {size / 1e6:.0f} MB gzip")

    rows = {}
    with Timer() as t:
        n = decompress_count(dump_files(corpus), use_isal=True)
    assert n == total_lines, (n, total_lines)
    rows["decompress floor (isal)"] = (t.seconds, None)
    log(f"isal decompress: {t.seconds:.1f}s")
    if "stdlib" not in skip:
        with Timer() as t:
            decompress_count(dump_files(corpus), use_isal=False)
        rows["decompress (stdlib gzip)"] = (t.seconds, None)
        log(f"stdlib decompress: {t.seconds:.1f}s")
    if "baseline" not in skip:
        with Timer() as t:
            n, kept = python_baseline(corpus, set(years), manifest.current_year)
        assert n == total_lines, (n, total_lines)
        rows["python baseline (gzip+json+filter)"] = (t.seconds, dict(kept) == expected)
        log(f"python baseline: {t.seconds:.1f}s")
    if "seed-staging" not in skip:
        with Timer() as t:
            n = seed_staging(corpus, args.work_dir / "seed_staged", args.part_lines)
        assert n == total_lines, (n, total_lines)
        rows["staging, line by line (seed)"] = (t.seconds, None)
        log(f"seed staging: {t.seconds:.1f}s")
    staged = args.work_dir / "staged"
    with Timer() as t_stage:
        n, parts = run_staging(corpus, staged, args.part_lines)
    assert n == total_lines, (n, total_lines)
    rows["staging (split into parts)"] = (t_stage.seconds, None)
    log(f"staging: {t_stage.seconds:.1f}s, parts {parts}")
    if "spark" not in skip:
        warehouse = args.work_dir / "warehouse"
        shutil.rmtree(warehouse, ignore_errors=True)
        with Timer() as t_spark:
            report = run_spark(staged, warehouse, years, manifest.current_year, args.master, args.driver_memory)
        assert sum(report["lines_read"].values()) == total_lines, report["lines_read"]
        got = {int(y): v["rows"] for y, v in report["per_year"].items()}
        ok = got == expected
        rows[f"spark job ({args.master})"] = (t_spark.seconds, ok)
        rows["staging + spark job"] = (t_stage.seconds + t_spark.seconds, ok)
        log(f"spark: {t_spark.seconds:.1f}s")
    failed = [name for name, (_, ok) in rows.items() if ok is False]
    base = rows.get("python baseline (gzip+json+filter)", (None,))[0]
    floor = rows["decompress floor (isal)"][0]
    table = []
    for name, (secs, ok) in rows.items():
        rate = total_lines / secs
        table.append([name, secs, rate, ratio(base, secs) if base else "-", f"{floor / secs:.0%}",
                      "-" if ok is None else ("yes" if ok else "NO")])
    print_table(
        f"Dump filter throughput: {total_lines:,} lines ({manifest.line_counts['editions']:,} editions), "
        f"{size / 1e6:.0f} MB gzip",
        ["step", "seconds", "lines/s", "vs baseline", "of floor", "kept ok"], table,
        notes=[f"staged parts: {parts}; part_lines {args.part_lines:,}; years {years[0]}-{years[-1]}",
               "vs baseline = speed-up over the single-process Python baseline; of floor = the share of "
               "decompression-alone speed reached"],
    )
    if args.smoke:
        shutil.rmtree(args.work_dir, ignore_errors=True)
    if failed:  # a row that kept other editions than the manifest expects measured the wrong work
        log(f"kept rows differ from the manifest in: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
