"""Build a tiny, randomly initialised CLIP checkpoint for tests (offline, < 1 s).

``build_tiny_clip(out_dir)`` writes a complete Hugging Face checkpoint directory:
``config.json`` + ``model.safetensors`` (a seeded ``CLIPModel`` with a 32-wide text and
vision tower), a working byte-level BPE ``CLIPTokenizer`` (every byte is in the vocab, so
any text tokenizes; a few merges for common English make it a real BPE) and a
``CLIPImageProcessor`` configured for the model's image size. The directory loads with
``book_assets.clip.model.load_clip(str(path))`` through the ordinary ``from_pretrained``
path, exactly like a hub checkpoint.

The build is cached: when ``out_dir`` already holds a finished build with the same seed and
builder version, it is returned untouched. Builds go to a temporary sibling first and are
renamed into place, so concurrent test processes never see a half-written directory.

Session-scoped fixture pattern (put it in your test dir's ``conftest.py``)::

    import pytest
    from tests.support.tiny_clip import build_tiny_clip

    @pytest.fixture(scope="session")
    def tiny_clip_dir(tmp_path_factory):
        return build_tiny_clip(tmp_path_factory.mktemp("tiny_clip") / "model")

    # and set HF_HUB_OFFLINE=1 (e.g. monkeypatch.setenv or os.environ.setdefault at import)

Pass ``str(tiny_clip_dir)`` wherever a model id is expected (``load_clip``, ``get_clip``,
``embed_cover_batches(..., model_id=...)``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

BUILDER_VERSION = 1
IMAGE_SIZE = 32
PATCH_SIZE = 8
PROJECTION_DIM = 16
HIDDEN = 32
MAX_TEXT_POSITIONS = 77
_MARKER = ".tiny_clip_complete"

# A handful of merges so the tokenizer is a genuine BPE (words still fall back to bytes).
_MERGE_WORDS = ("the", "of", "and", "a", "in", "book", "cover", "dark", "love", "space")


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte -> printable unicode character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def _vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Every byte symbol, with and without the end-of-word suffix, plus merges and specials."""
    symbols = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for s in symbols:
        vocab[s] = len(vocab)
    for s in symbols:
        vocab[s + "</w>"] = len(vocab)
    merges: list[tuple[str, str]] = []
    for word in _MERGE_WORDS:
        if len(word) < 2:
            continue
        left = word[0]
        for i, ch in enumerate(word[1:], start=1):
            right = ch + "</w>" if i == len(word) - 1 else ch
            pair = (left, right)
            merged = left + right
            if pair not in merges:
                merges.append(pair)
            if merged not in vocab:
                vocab[merged] = len(vocab)
            left = merged
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return vocab, merges


def _build(target: Path, seed: int) -> None:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    vocab, merges = _vocab_and_merges()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=MAX_TEXT_POSITIONS)
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id

    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(vocab),
            hidden_size=HIDDEN,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=MAX_TEXT_POSITIONS,
            bos_token_id=bos,
            eos_token_id=eos,
            pad_token_id=eos,
        ),
        vision_config=dict(
            hidden_size=HIDDEN,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=IMAGE_SIZE,
            patch_size=PATCH_SIZE,
        ),
        projection_dim=PROJECTION_DIM,
    )
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    # Random init leaves tiny weights; widen them a little so embeddings of different
    # images are clearly different (makes equality tests meaningful).
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.2)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
    ).save_pretrained(target)


def build_tiny_clip(out_dir: Path, seed: int = 0) -> Path:
    """Build (or reuse) a tiny CLIP checkpoint at ``out_dir`` and return ``out_dir``."""
    out_dir = Path(out_dir)
    stamp = json.dumps({"version": BUILDER_VERSION, "seed": seed})
    marker = out_dir / _MARKER
    if marker.is_file() and marker.read_text() == stamp:
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        _build(tmp, seed)
        (tmp / _MARKER).write_text(stamp)
        if out_dir.exists():
            if marker.is_file() and marker.read_text() == stamp:  # another process won the race
                return out_dir
            shutil.rmtree(out_dir, ignore_errors=True)
        try:
            os.replace(tmp, out_dir)
        except OSError:
            if not (marker.is_file() and marker.read_text() == stamp):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
