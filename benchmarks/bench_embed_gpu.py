"""Benchmark 3: GPU embedding throughput (for a CUDA machine, H100/H200 class).

    .venv/bin/python benchmarks/bench_embed_gpu.py [--batches 256,1024] [--images 16384] [--workers 0]
    .venv/bin/python benchmarks/bench_embed_gpu.py --smoke     # CPU, tiny CLIP: checks the code paths

Without a CUDA device it prints "no CUDA device" and exits 0 (``--smoke`` runs every part on
the CPU with the tiny test CLIP instead, for the test suite). On a GPU, with the random-weight
ViT-B/32 of ``bench_embed_cpu.py`` (same architecture as openai/clip-vit-base-patch32):

* ``bare image tower``: ``get_image_features`` on pre-made pixel tensors already on the GPU, at
  each batch size, bf16 (the dtype ``load_clip`` picks on CUDA) and fp32 (TF32 off) -- images/s;
* ``JPEG decode + resize``: the project's decode and resize/crop (``decode_image`` +
  ``preprocess``) on ``--workers`` processes (default: every core), two ways -- images/s, and
  against the same decode in this one process:

  - ``pool``: a ``multiprocessing`` pool that is sent each cover's bytes and pickles each
    224x224x3 crop back through a pipe (the baseline);
  - ``DataLoader``: ``torch.utils.data.DataLoader`` workers that read the cover files
    themselves and hand whole uint8 batches back in shared memory;
* ``end to end``: the same two feeders decode and crop while the GPU normalises and embeds the
  previous batch (bf16) -- covers/s including decode;
* ``cover_embeddings path (1 process)``: ``embed_cover_batches``, the job's mapInPandas body, in
  one process (its 4 IO threads) -- what one Spark Python worker does.

Reference: a bare ViT-B/32 image tower runs ~29.5k images/s in bf16 at batch 1024 on an H200;
Pillow decodes + resizes a cover-sized JPEG at ~390/s per core.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import COVERS_DIR, DEFAULT_WORK, REPO, log, print_table  # noqa: E402

sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

NO_CUDA = "no CUDA device: bench_embed_gpu.py measures GPU throughput only (run it on a CUDA machine; --smoke checks the code on CPU)"

_PLAN = None


def _init_worker(plan) -> None:
    global _PLAN
    _PLAN = plan
    try:
        import torch

        torch.set_num_threads(1)
    except Exception:  # pragma: no cover
        pass


def _decode_crop(data: bytes):
    """One cover: decode (EXIF, RGB) and resize + centre-crop to uint8 (H, W, 3), as the job does."""
    import numpy as np

    from book_assets.clip.preprocess import _resize_crop, decode_image

    return np.ascontiguousarray(_resize_crop(decode_image(data), _PLAN))


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_forward(model, device, dtype, batch: int, size: int, seconds: float) -> float:
    """images/s of the image tower on a resident (batch, 3, size, size) tensor."""
    import torch

    from book_assets.clip.embed import features_tensor

    pv = torch.randn(batch, 3, size, size, device=device, dtype=dtype)
    with torch.inference_mode():
        for _ in range(3):
            features_tensor(model.get_image_features(pixel_values=pv))
        _sync(device)
        iters, start = 0, time.perf_counter()
        while True:
            features_tensor(model.get_image_features(pixel_values=pv))
            iters += 1
            if iters >= 2 and time.perf_counter() - start >= seconds:
                _sync(device)
                if time.perf_counter() - start >= seconds:
                    break
        _sync(device)
        return iters * batch / (time.perf_counter() - start)


class CoverCrops:
    """DataLoader dataset: item ``i`` is cover file ``paths[i]`` decoded and cropped to uint8 (H, W, 3)."""

    def __init__(self, paths: list[str], plan) -> None:
        self.paths, self.plan = paths, plan

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        import numpy as np
        import torch

        global _PLAN
        _PLAN = self.plan
        with open(self.paths[i], "rb") as fh:
            crop = _decode_crop(fh.read())
        return torch.from_numpy(np.require(crop, requirements=["C", "W"]))  # a view of PIL's buffer is read-only


def _loader_worker_init(_worker_id: int) -> None:
    import torch

    torch.set_num_threads(1)


def crop_loader(paths: list[str], plan, batch: int, workers: int, pin: bool):
    """Persistent spawn workers (see the pool's note on fork), batches collated in the workers."""
    from torch.utils.data import DataLoader

    return DataLoader(CoverCrops(paths, plan), batch_size=batch, num_workers=workers, pin_memory=pin,
                      persistent_workers=True, prefetch_factor=4, multiprocessing_context="spawn",
                      worker_init_fn=_loader_worker_init)


def loader_decode_rate(loader) -> float:
    start, n = time.perf_counter(), 0
    for crops in loader:
        n += len(crops)
    return n / (time.perf_counter() - start)


def _embed_uint8(model, x, dtype, m, s):
    """Normalise a (B, H, W, 3) uint8 batch on its device and embed it (unit vectors)."""
    import torch.nn.functional as F

    from book_assets.clip.embed import features_tensor

    x = ((x.permute(0, 3, 1, 2).float() / 255.0 - m) / s).to(dtype)
    return F.normalize(features_tensor(model.get_image_features(pixel_values=x)).float(), dim=-1)


def loader_end_to_end(loader, model, device, dtype, mean, std) -> float:
    """DataLoader workers decode while the GPU embeds: covers/s including decode."""
    import torch

    m = torch.tensor(mean, device=device, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, device=device, dtype=torch.float32).view(1, 3, 1, 1)
    start, n = time.perf_counter(), 0
    with torch.inference_mode():
        for crops in loader:
            _embed_uint8(model, crops.to(device, non_blocking=True), dtype, m, s)
            n += len(crops)
        _sync(device)
    return n / (time.perf_counter() - start)


def decode_rate(pool, blobs: list[bytes]) -> float:
    start = time.perf_counter()
    for _ in pool.imap(_decode_crop, blobs, chunksize=16):
        pass
    return len(blobs) / (time.perf_counter() - start)


def end_to_end(pool, model, device, dtype, blobs: list[bytes], batch: int, mean, std) -> float:
    """Decode in the pool while the GPU embeds: covers/s including decode."""
    import numpy as np
    import torch

    m = torch.tensor(mean, device=device, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, device=device, dtype=torch.float32).view(1, 3, 1, 1)
    start = time.perf_counter()
    crops, done = [], 0
    with torch.inference_mode():
        for crop in pool.imap(_decode_crop, blobs, chunksize=16):
            crops.append(crop)
            if len(crops) == batch:
                _embed_uint8(model, torch.from_numpy(np.stack(crops)).to(device, non_blocking=True), dtype, m, s)
                done += len(crops)
                crops = []
        _sync(device)
    return done / (time.perf_counter() - start)


def udf_path(model_id: str, paths: list[str], batch: int) -> float:
    import pandas as pd

    from book_assets.clip.spark_udf import embed_cover_batches

    frame = pd.DataFrame({"cover_id": range(len(paths)), "edition_key": ["/books/OL1M"] * len(paths),
                          "blob_path": paths})
    list(embed_cover_batches(iter([frame.iloc[:batch]]), model_id=model_id, batch_size=batch))  # warm
    start = time.perf_counter()
    n = sum(len(out) for out in embed_cover_batches(iter([frame]), model_id=model_id, batch_size=batch))
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="256,1024")
    parser.add_argument("--images", type=int, default=16384, help="covers for the decode/end-to-end rows")
    parser.add_argument("--udf-images", type=int, default=4096)
    parser.add_argument("--seconds", type=float, default=5.0, help="time per bare-forward row")
    parser.add_argument("--workers", type=int, default=0, help="decode processes (0 = every core)")
    parser.add_argument("--model", default="", help="CLIP checkpoint dir (default: random ViT-B/32)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK / "embed")
    parser.add_argument("--covers-dir", type=Path, default=COVERS_DIR)
    parser.add_argument("--smoke", action="store_true", help="run every part on CPU with the tiny CLIP")
    args = parser.parse_args(argv)

    import torch

    if args.smoke:
        device = torch.device("cpu")
    elif not torch.cuda.is_available():
        print(NO_CUDA)
        return 0
    else:
        device = torch.device("cuda")

    import multiprocessing as mp

    from transformers import CLIPModel

    from _vit_b32 import build_vit_b32
    from bench_embed_cpu import cover_files
    from book_assets.clip.model import load_clip
    from book_assets.clip.preprocess import _fast_plan

    batches = [int(b) for b in args.batches.split(",") if b]
    workers = args.workers or os.cpu_count() or 1
    args.work_dir.mkdir(parents=True, exist_ok=True)
    if args.smoke:
        from tests.support.tiny_clip import build_tiny_clip

        model_id, label = str(build_tiny_clip(args.work_dir / "tiny_clip")), "tiny CLIP (smoke, CPU)"
        batches, args.images, args.udf_images, args.seconds, workers = [4, 8], 32, 16, 0.2, min(workers, 2)
    elif args.model:
        model_id, label = args.model, args.model
    else:
        model_id, label = str(build_vit_b32(args.work_dir / "vit_b32_random")), "ViT-B/32 (random weights)"
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    log(f"{card}: torch {torch.__version__}, {label}, decode workers {workers}")

    bundle = load_clip(model_id, device=str(device))  # bf16 on CUDA, fp32 on CPU
    log(f"image processor {type(bundle.image_processor).__name__}, "
        f"fast preprocess plan: {'yes' if _fast_plan(bundle.image_processor) else 'no'}")
    half = torch.bfloat16
    models = {"bf16": bundle.model.to(half) if device.type == "cpu" else bundle.model}
    fp32 = CLIPModel.from_pretrained(model_id, dtype=torch.float32).to(device).eval()
    models["fp32"] = fp32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    size = int(bundle.model.config.vision_config.image_size)

    rows = []
    bare = {}
    for batch in batches:
        for name, dtype in (("bf16", half), ("fp32", torch.float32)):
            try:
                rate = bare_forward(models[name], device, dtype, batch, size, args.seconds)
            except torch.OutOfMemoryError:
                rate = None
                torch.cuda.empty_cache()
            bare[(batch, name)] = rate
            log(f"bare {name} batch {batch}: {rate}")
    for batch in batches:
        ref = bare[(batch, "fp32")]
        for name in ("bf16", "fp32"):
            rate = bare[(batch, name)]
            rows.append([f"bare image tower, {name}, batch {batch}", rate,
                         f"{rate / ref:.2f}x" if rate and ref else "-"])
    del fp32, models["fp32"]
    if device.type == "cuda":
        torch.cuda.empty_cache()

    files = cover_files(args.covers_dir)
    blobs_by_file = [p.read_bytes() for p in files]
    blobs = [blobs_by_file[i % len(files)] for i in range(args.images)]
    plan = _fast_plan(bundle.image_processor)
    if plan is None:
        raise SystemExit("the image processor has no fast plan; cannot benchmark decode")
    # spawn, not fork: the parent has already run torch (its OpenMP pool is up), and a forked
    # child that touches OpenMP again can hang for ever (seen once in CI, > 900 s).
    ctx = mp.get_context("spawn")
    _, _, _, _, _, mean, std = plan
    batch = max(batches)
    ref = bare[(batch, "bf16")]
    _init_worker(plan)
    one = blobs[: min(len(blobs), 1200)]  # the baseline for the per-core ratios: one pass, this process
    for data in one[:16]:
        _decode_crop(data)
    start = time.perf_counter()
    for data in one:
        _decode_crop(data)
    single = len(one) / (time.perf_counter() - start)
    log(f"decode, 1 process: {single:.0f}/s")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(plan,)) as pool:
        decode_rate(pool, blobs[: min(len(blobs), 64)])  # warm the workers
        dec = decode_rate(pool, blobs)
        log(f"decode, pool: {dec:.0f}/s")
        e2e = end_to_end(pool, models["bf16"], device, half, blobs, batch, mean, std)
        log(f"end to end, pool: {e2e:.0f}/s")
    image_paths = [str(files[i % len(files)]) for i in range(args.images)]
    loader = crop_loader(image_paths, plan, batch, workers, pin=device.type == "cuda")
    loader_decode_rate(loader)  # a first pass starts the persistent workers (untimed)
    ldec = loader_decode_rate(loader)
    log(f"decode, DataLoader: {ldec:.0f}/s")
    le2e = loader_end_to_end(loader, models["bf16"], device, half, mean, std)
    log(f"end to end, DataLoader: {le2e:.0f}/s")
    del loader
    rows.append(["JPEG decode + resize/crop, 1 process", single, "1.00x"])
    rows.append([f"JPEG decode + resize/crop, pool of {workers} (bytes, crops pickled)", dec,
                 f"{dec / single:.2f}x 1 process"])
    rows.append([f"JPEG decode + resize/crop, DataLoader {workers} workers (shared memory)", ldec,
                 f"{ldec / single:.2f}x 1 process, {ldec / dec:.2f}x pool"])
    rows.append([f"end to end, pool + bf16, batch {batch}", e2e,
                 f"{e2e / ref:.0%} of bare bf16" if ref else "-"])
    rows.append([f"end to end, DataLoader + bf16, batch {batch}", le2e,
                 (f"{le2e / ref:.0%} of bare bf16, " if ref else "") + f"{le2e / e2e:.2f}x pool"])
    paths = [str(files[i % len(files)]) for i in range(args.udf_images)]
    udf_batch = min(256, max(batches))
    udf = udf_path(model_id, paths, udf_batch)
    rows.append([f"cover_embeddings path, 1 process, batch {udf_batch}", udf,
                 f"{udf / le2e:.0%} of DataLoader end to end" if le2e else "-"])
    print_table(f"GPU embedding throughput: {card}, {label}", ["measure", "images/s", "ratio"], rows,
                notes=[f"torch {torch.__version__}; bf16 ratio is against fp32 at the same batch (TF32 off)"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
