"""A random-weight CLIP ViT-B/32 checkpoint for the benchmarks, with CLIP's real BPE tokenizer.

``transformers.CLIPConfig()``'s defaults are exactly openai/clip-vit-base-patch32's architecture
(768-wide, 12-layer, patch-32 image tower at 224 px; 512-wide, 12-layer text tower; 512-d
projection). Speed does not depend on the weights, but text-tower latency does depend on how
many tokens a query becomes, so the tokenizer should be CLIP's own: its BPE merges are not on
Hugging Face's (unreachable) hub here, but they ship inside the ``open_clip_torch`` wheel on the
package registry (``open_clip/bpe_simple_vocab_16e6.txt.gz``, the file OpenAI's CLIP uses). The
vocabulary is rebuilt from the merges the way CLIP does it (256 byte symbols, the same with
``</w>``, one entry per merge, the two specials: 49,408 entries), which is the vocab.json of
openai/clip-vit-base-patch32.

If the wheel cannot be fetched, the byte-level tokenizer of ``tests/support/tiny_clip`` is used
(about 3x more tokens per English query: a pessimistic text-tower latency) and
:func:`tokenizer_note` says so.
"""
from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

OPEN_CLIP_WHEEL = "open_clip_torch==3.3.0"
BPE_MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"
_N_MERGES = 49152 - 256 - 2  # what CLIP's SimpleTokenizer keeps
_MARKER = ".bench_vit_b32_complete"
_BUILD = "2"  # bump when the checkpoint's contents change


def clip_bpe_file(work_dir: Path) -> Path | None:
    """CLIP's BPE merges file, fetched once from the open_clip wheel into ``work_dir``; None if unreachable."""
    target = work_dir / "clip_bpe" / "bpe_simple_vocab_16e6.txt.gz"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, OPEN_CLIP_WHEEL]
        try:
            subprocess.run(cmd, check=True, timeout=300, capture_output=True)
        except (subprocess.SubprocessError, OSError):
            return None
        wheels = list(Path(tmp).glob("open_clip_torch-*.whl"))
        if not wheels:
            return None
        with zipfile.ZipFile(wheels[0]) as wheel:
            data = wheel.read(BPE_MEMBER)
        part = Path(tmp) / "bpe.gz"
        part.write_bytes(data)
        os.replace(part, target)
    return target


def clip_vocab_and_merges(bpe_file: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's vocabulary and merges, rebuilt from its BPE file as CLIP's SimpleTokenizer does."""
    from tests.support.tiny_clip import _bytes_to_unicode

    lines = gzip.decompress(bpe_file.read_bytes()).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : _N_MERGES + 1] if line.strip()]
    symbols = list(_bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges


def _tokenizer_source(work_dir: Path):
    bpe = clip_bpe_file(work_dir)
    if bpe is not None:
        return (*clip_vocab_and_merges(bpe), "clip-bpe")
    from tests.support.tiny_clip import _vocab_and_merges

    return (*_vocab_and_merges(), "byte-level")


def build_vit_b32(out_dir: Path) -> Path:
    """A randomly initialised CLIP with ViT-B/32's architecture, saved like a hub checkpoint (once)."""
    marker = out_dir / _MARKER
    if marker.is_file() and marker.read_text().startswith(_BUILD + " "):
        return out_dir
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    print(f"building a random-weight ViT-B/32 CLIP in {out_dir} (once)", file=sys.stderr, flush=True)
    vocab, merges, kind = _tokenizer_source(out_dir.parent)
    tmp = Path(tempfile.mkdtemp(prefix=".vitb32-", dir=out_dir.parent))
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)
    config = CLIPConfig()  # defaults = ViT-B/32: vision 768x12 patch 32 @224, text 512x12, proj 512
    config.text_config.vocab_size = len(vocab)
    config.text_config.bos_token_id = tokenizer.bos_token_id
    config.text_config.eos_token_id = tokenizer.eos_token_id
    config.text_config.pad_token_id = tokenizer.eos_token_id
    torch.manual_seed(0)
    CLIPModel(config).eval().save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}).save_pretrained(tmp)
    (tmp / _MARKER).write_text(f"{_BUILD} {kind}")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return out_dir


def tokenizer_note(model_dir: Path) -> str:
    """One line for a benchmark's notes: which tokenizer the checkpoint carries."""
    kind = (model_dir / _MARKER).read_text().split(" ", 1)[-1] if (model_dir / _MARKER).is_file() else "?"
    if kind == "clip-bpe":
        return "tokenizer: CLIP's own BPE (49,408 tokens, from the open_clip wheel's bpe_simple_vocab_16e6)"
    return "tokenizer: byte-level fallback (open_clip wheel unreachable): ~3x CLIP's tokens per query, pessimistic"
