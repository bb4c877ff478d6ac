"""Load a CLIP checkpoint (hub name or local directory) into a ``ClipBundle``.

``load_clip`` always goes through ``from_pretrained`` (model, image processor, tokenizer),
so a hub id such as ``openai/clip-vit-base-patch32`` and a local directory take the same
path. On a CUDA machine the model runs in bf16 (fp16 where bf16 is unsupported); on CPU it
stays fp32. ``get_clip`` is the process-wide, thread-safe cache used by Spark Python
workers: one load per worker process, reused by every partition and batch.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

import torch

log = logging.getLogger(__name__)

THREADS_ENV = "BOOK_ASSETS_TORCH_THREADS"


@dataclass
class ClipBundle:
    """A loaded CLIP model with its image processor and tokenizer."""

    model: Any  # transformers.CLIPModel, eval mode
    image_processor: Any  # CLIPImageProcessorPil (see _image_processor_class)
    tokenizer: Any
    device: torch.device
    dtype: torch.dtype
    model_id: str
    dim: int  # projection_dim


def _pick_device_and_dtype(device: str | None) -> tuple[torch.device, torch.dtype]:
    dev = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dev.type == "cuda":
        bf16 = torch.cuda.is_bf16_supported() if torch.cuda.is_available() else False
        return dev, torch.bfloat16 if bf16 else torch.float16
    return dev, torch.float32


def _image_processor_class():
    """CLIP's PIL-backend image processor where this transformers has one, else ``CLIPImageProcessor``.

    ``CLIPImageProcessor`` is the torchvision backend whenever torchvision is installed (GPU
    images usually have it) and the PIL backend otherwise. The two resize differently, so the
    same cover would embed differently from machine to machine, and the torchvision one also
    turns off ``preprocess``'s fast path. Asking for the PIL backend by name keeps every
    machine on the same pixels.
    """
    try:
        from transformers import CLIPImageProcessorPil
    except ImportError:  # transformers without split backends
        from transformers import CLIPImageProcessor

        return CLIPImageProcessor
    return CLIPImageProcessorPil


def _load_image_processor(model_id: str):
    try:
        return _image_processor_class().from_pretrained(model_id)
    except (OSError, ValueError):  # checkpoints that only ship a processor_config
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(model_id).image_processor


def load_clip(model_id: str, device: str | None = None) -> ClipBundle:
    """Load model, image processor and tokenizer for ``model_id`` (hub id or local dir)."""
    from transformers import AutoTokenizer, CLIPModel

    dev, dtype = _pick_device_and_dtype(device)
    model = CLIPModel.from_pretrained(model_id, dtype=dtype)
    model.to(dev)
    model.eval()
    bundle = ClipBundle(
        model=model,
        image_processor=_load_image_processor(model_id),
        tokenizer=AutoTokenizer.from_pretrained(model_id),
        device=dev,
        dtype=dtype,
        model_id=model_id,
        dim=int(model.config.projection_dim),
    )
    log.info("loaded CLIP %s on %s (%s), dim=%d", model_id, dev, dtype, bundle.dim)
    return bundle


def _spark_task_cpus() -> int | None:
    try:
        from pyspark import TaskContext
    except Exception:  # pyspark missing or broken
        return None
    ctx = TaskContext.get()
    if ctx is None:
        return None
    try:
        cpus = ctx.cpus()
        if cpus:
            return int(cpus)
    except Exception:
        pass
    try:
        res = ctx.resources().get("cpus")
        if res is not None and res.addresses:
            return len(res.addresses)
    except Exception:
        pass
    return None


def configure_torch_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads to the task's cores; returns the value used.

    Order: explicit ``n``; env ``BOOK_ASSETS_TORCH_THREADS``; Spark's ``spark.task.cpus``
    (via ``pyspark.TaskContext``); ``os.cpu_count()``.
    """
    if n is None:
        env = os.environ.get(THREADS_ENV, "").strip()
        if env:
            n = int(env)
    if n is None:
        n = _spark_task_cpus()
    if n is None:
        n = os.cpu_count() or 1
    n = max(1, int(n))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


_CACHE: dict[str, ClipBundle] = {}
_LOCK = threading.Lock()


def get_clip(model_id: str) -> ClipBundle:
    """Process-wide cached ``load_clip(model_id)``: loaded once per Python worker."""
    configure_torch_threads()
    bundle = _CACHE.get(model_id)
    if bundle is not None:
        return bundle
    with _LOCK:
        bundle = _CACHE.get(model_id)
        if bundle is None:
            bundle = load_clip(model_id)
            _CACHE[model_id] = bundle
        return bundle


def clear_clip_cache() -> None:
    """Drop every cached bundle (tests; freeing GPU memory)."""
    with _LOCK:
        _CACHE.clear()
