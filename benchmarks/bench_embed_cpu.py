"""Benchmark 2: CPU embedding throughput through the real cover_embeddings path.

    .venv/bin/python benchmarks/bench_embed_cpu.py [--covers 320] [--batch-size 32] [--seed-rows 6]
    .venv/bin/python benchmarks/bench_embed_cpu.py --smoke      # tiny CLIP, a few covers

The model is a full-size CLIP ViT-B/32 (``transformers.CLIPConfig()``'s defaults are exactly
openai/clip-vit-base-patch32's architecture: 768-wide, 12-layer, patch-32 image tower at 224 px)
with random weights -- speed does not depend on the weights -- saved once with
``save_pretrained`` beside the CLIP image processor and CLIP's BPE tokenizer (``_vit_b32.py``), and loaded
through ``book_assets.clip.model.load_clip`` like a hub checkpoint. Covers are the real JPEGs
in ``../shared/data/covers``. In one run:

* ``bare forward``: ``embed_pixel_values`` on pre-made (B, 3, 224, 224) tensors -- the ceiling;
* ``cover_embeddings path``: ``book_assets.clip.spark_udf.embed_cover_batches`` -- the
  ``mapInPandas`` body the embeddings job runs in each Spark Python worker: read each blob,
  decode, preprocess (thread pool), forward, with the next batch prepared while the model runs;
* ``decode + preprocess only``: the same reading/decoding/preprocessing without the model;
* ``seed's per-row UDF``: the original way, one row at a time, loading the model per row (on
  ``--seed-rows`` covers only: it is that slow).

Target: the cover_embeddings path at >= 90% of the bare forward.

``--threads N`` (0 = every core) is pinned through ``BOOK_ASSETS_TORCH_THREADS`` before the first
model load: ``embed_cover_batches`` loads the model via ``get_clip``, which calls
``configure_torch_threads()`` and would otherwise reset torch to ``os.cpu_count()``. The run checks
``torch.get_num_threads()`` after every timed row and prints the value seen in the table title.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import COVERS_DIR, DEFAULT_WORK, REPO, Timer, log, print_table  # noqa: E402
from _vit_b32 import build_vit_b32  # noqa: E402

sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

def cover_files(covers_dir: Path) -> list[Path]:
    files = sorted(p for p in covers_dir.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise SystemExit(f"no cover images under {covers_dir}")
    return files


def frames(paths: list[str], size: int):
    import pandas as pd

    for start in range(0, len(paths), size):
        part = paths[start:start + size]
        yield pd.DataFrame({"cover_id": range(start, start + len(part)),
                            "edition_key": [f"/books/OL{i}M" for i in range(start, start + len(part))],
                            "blob_path": part})


def run_path(model_id: str, paths: list[str], batch_size: int) -> int:
    from book_assets.clip.spark_udf import embed_cover_batches

    done = 0
    for out in embed_cover_batches(frames(paths, 10_000), model_id=model_id, batch_size=batch_size):
        assert out["failure_reason"].isna().all(), out["failure_detail"].tolist()
        done += len(out)
    return done


def run_bare(bundle, n: int, batch_size: int) -> int:
    import torch

    from book_assets.clip.embed import embed_pixel_values

    size = bundle.image_processor.crop_size["height"]
    pv = torch.randn(batch_size, 3, size, size)
    done = 0
    while done < n:
        embed_pixel_values(bundle, pv[: min(batch_size, n - done)])
        done += min(batch_size, n - done)
    return done


def run_preprocess(bundle, paths: list[str], batch_size: int) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from book_assets.clip.spark_udf import IO_THREADS, _prepare

    done = 0
    with ThreadPoolExecutor(max_workers=IO_THREADS) as pool:
        for frame in frames(paths, batch_size):
            prep = _prepare(frame, bundle.image_processor, pool)
            done += prep.pixel_values.shape[0]
    return done


def run_seed_udf(model_id: str, paths: list[str]) -> int:
    """The seed's way: a per-row UDF that loads the model, decodes, preprocesses and embeds one row."""
    from book_assets.clip.embed import embed_images
    from book_assets.clip.model import load_clip
    from book_assets.clip.preprocess import decode_image

    for path in paths:
        bundle = load_clip(model_id)  # per row, as the seed's UDF did
        with open(path, "rb") as fh:
            image = decode_image(fh.read())
        embed_images(bundle, [image], batch_size=1)
    return len(paths)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--covers", type=int, default=320)
    parser.add_argument("--batch-size", type=int, default=32, help="the embeddings job's default")
    parser.add_argument("--seed-rows", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3, help="alternating bare/path rounds")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (0 = every core); overrides BOOK_ASSETS_TORCH_THREADS")
    parser.add_argument("--model", default="", help="a CLIP checkpoint dir (default: build random ViT-B/32)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK / "embed")
    parser.add_argument("--covers-dir", type=Path, default=COVERS_DIR)
    parser.add_argument("--smoke", action="store_true", help="tiny CLIP and a few covers (test suite)")
    args = parser.parse_args(argv)

    import torch

    from book_assets.clip.model import THREADS_ENV, configure_torch_threads, load_clip

    threads = max(1, args.threads or os.cpu_count() or 1)
    # get_clip() -- the path embed_cover_batches loads the model through -- calls
    # configure_torch_threads() with no argument, which reads this variable and otherwise resets
    # torch to os.cpu_count(): without it --threads was silently ignored on the path row.
    os.environ[THREADS_ENV] = str(threads)
    threads = configure_torch_threads(threads)
    seen_threads: set[int] = set()

    def check_threads(row: str) -> None:
        n = torch.get_num_threads()
        seen_threads.add(n)
        if n != threads:
            raise SystemExit(f"{row}: torch.get_num_threads() = {n}, asked for {threads} (--threads)")

    args.work_dir.mkdir(parents=True, exist_ok=True)
    label = "ViT-B/32 (random weights)"
    if args.smoke:
        from tests.support.tiny_clip import build_tiny_clip

        model_id = str(build_tiny_clip(args.work_dir / "tiny_clip"))
        args.covers, args.batch_size, args.seed_rows, args.rounds, label = 24, 8, 2, 2, "tiny CLIP (smoke)"
    elif args.model:
        model_id, label = args.model, args.model
    else:
        model_id = str(build_vit_b32(args.work_dir / "vit_b32_random"))
    files = cover_files(args.covers_dir)
    paths = [str(files[i % len(files)]) for i in range(args.covers)]
    bundle = load_clip(model_id)
    log(f"{label}: torch {torch.__version__}, {threads} threads, batch {args.batch_size}, {len(paths)} covers")

    # warm-up (allocator, thread pools, first-call overheads), not timed
    run_bare(bundle, args.batch_size, args.batch_size)
    run_path(model_id, paths[: args.batch_size], args.batch_size)

    # Bare and path alternate in --rounds rounds so that load changes on a shared machine hit
    # both alike; each row sums its rounds.
    results = {}
    bare_name = "bare forward (pre-made tensors)"
    path_name = "cover_embeddings path (read+decode+preprocess+model)"
    totals = {bare_name: [0, 0.0], path_name: [0, 0.0]}
    share = max(args.batch_size, len(paths) // args.rounds)
    for r in range(args.rounds):
        chunk = paths[r * share:(r + 1) * share] or paths[:share]
        with Timer() as t:
            n = run_bare(bundle, len(chunk), args.batch_size)
        check_threads(bare_name)
        totals[bare_name][0] += n
        totals[bare_name][1] += t.seconds
        with Timer() as t:
            n = run_path(model_id, chunk, args.batch_size)
        check_threads(path_name)
        totals[path_name][0] += n
        totals[path_name][1] += t.seconds
        log(f"round {r + 1}: bare {totals[bare_name][0] / totals[bare_name][1]:.1f}/s, "
            f"path {totals[path_name][0] / totals[path_name][1]:.1f}/s")
    for name, (n, secs) in totals.items():
        results[name] = (n, secs)
    with Timer() as t:
        n = run_preprocess(bundle, paths, args.batch_size)
    check_threads("decode + preprocess only")
    results["decode + preprocess only"] = (n, t.seconds)
    with Timer() as t:
        n = run_seed_udf(model_id, paths[: args.seed_rows])
    check_threads("seed's per-row UDF")
    results["seed's per-row UDF (model loaded per row)"] = (n, t.seconds)
    log(f"seed: {n / t.seconds:.2f}/s")

    bare_rate = results["bare forward (pre-made tensors)"][0] / results["bare forward (pre-made tensors)"][1]
    rows = [[name, n, secs, n / secs, f"{(n / secs) / bare_rate:.1%}"] for name, (n, secs) in results.items()]
    print_table(
        f"CPU embedding throughput: {label}, batch {args.batch_size}, {threads} torch threads "
        f"(torch.get_num_threads() = {'/'.join(map(str, sorted(seen_threads)))} in every row)",
        ["path", "covers", "seconds", "covers/s", "of bare forward"], rows,
        notes=["target: cover_embeddings path >= 90% of the bare forward",
               f"covers: real JPEGs from {args.covers_dir.name}/ ({len(files)} files, cycled)"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
