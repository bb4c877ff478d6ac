"""Loading CLIP through from_pretrained, the per-process cache and thread configuration."""

from __future__ import annotations

import threading

import torch

from book_assets.clip import model as clip_model
from book_assets.clip.model import ClipBundle, clear_clip_cache, configure_torch_threads, get_clip, load_clip


def test_tiny_clip_loads_through_from_pretrained(tiny_clip_dir):
    bundle = load_clip(str(tiny_clip_dir))
    assert isinstance(bundle, ClipBundle)
    assert bundle.model_id == str(tiny_clip_dir)
    assert bundle.device == torch.device("cpu")  # no GPU here
    assert bundle.dtype == torch.float32
    assert bundle.dim == bundle.model.config.projection_dim == 16
    assert not bundle.model.training
    enc = bundle.tokenizer(["A haunted house on a dark hill, 1887!"], return_tensors="pt")
    assert enc["input_ids"].shape[1] > 3
    assert bundle.image_processor.crop_size["height"] == 32


def test_build_is_cached(tiny_clip_dir):
    from tests.support.tiny_clip import build_tiny_clip

    before = (tiny_clip_dir / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_clip(tiny_clip_dir) == tiny_clip_dir
    assert (tiny_clip_dir / "model.safetensors").stat().st_mtime_ns == before


def test_get_clip_loads_once_per_process(tiny_clip_dir, monkeypatch):
    clear_clip_cache()
    calls = []
    real = clip_model.load_clip

    def spy(model_id, device=None):
        calls.append(model_id)
        return real(model_id, device)

    monkeypatch.setattr(clip_model, "load_clip", spy)
    results = []
    threads = [threading.Thread(target=lambda: results.append(get_clip(str(tiny_clip_dir)))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert get_clip(str(tiny_clip_dir)) is results[0]
    assert all(r is results[0] for r in results)
    assert calls == [str(tiny_clip_dir)]
    clear_clip_cache()


def test_configure_torch_threads(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv(clip_model.THREADS_ENV, "1")
        assert configure_torch_threads() == 1
        assert torch.get_num_threads() == 1
        assert configure_torch_threads(2) == 2  # an explicit n wins over the env
        assert torch.get_num_threads() == 2  # and is applied, not only returned
        monkeypatch.delenv(clip_model.THREADS_ENV)
        monkeypatch.setattr(clip_model, "_spark_task_cpus", lambda: 3)
        assert configure_torch_threads() == 3
        assert torch.get_num_threads() == 3
        monkeypatch.setattr(clip_model, "_spark_task_cpus", lambda: None)
        monkeypatch.setattr(clip_model.os, "cpu_count", lambda: 5)
        assert configure_torch_threads() == 5
        assert torch.get_num_threads() == 5
        assert configure_torch_threads(0) == 1 and torch.get_num_threads() == 1  # never below one
    finally:
        torch.set_num_threads(before)


def test_image_processor_is_the_pil_backend_even_where_torchvision_is_installed(tiny_clip_dir, monkeypatch):
    """With torchvision installed, ``CLIPImageProcessor`` is the torchvision backend: other
    pixels and no fast path. Stand a torchvision-like class in its place and check that the
    loader still gives the PIL backend, with the fast plan that the job relies on."""
    import transformers

    from book_assets.clip.preprocess import _fast_plan

    class TorchvisionLike:
        @classmethod
        def from_pretrained(cls, *args, **kwargs):
            return cls()

    monkeypatch.setattr(transformers, "CLIPImageProcessor", TorchvisionLike)
    processor = load_clip(str(tiny_clip_dir)).image_processor
    assert type(processor).__name__ == "CLIPImageProcessorPil"
    assert _fast_plan(processor)[:3] == (32, 32, 32)
