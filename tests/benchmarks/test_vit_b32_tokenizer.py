"""The benchmarks' CLIP tokenizer rebuild (``benchmarks/_vit_b32.py``): from a BPE merges file in
CLIP's format to a working ``CLIPTokenizer``, vocabulary laid out the way CLIP lays it out.

The real file (49,152 lines, fetched from the open_clip wheel) is not needed: a small file in the
same format exercises the same code.
"""
from __future__ import annotations

import gzip
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import _vit_b32  # noqa: E402


def _bpe_file(tmp_path: Path) -> Path:
    merges = ["t h", "th e</w>", "r o", "ro b", "rob o", "robo t</w>"]
    path = tmp_path / "bpe_simple_vocab_16e6.txt.gz"
    path.write_bytes(gzip.compress(("\"bpe_simple_vocab_16e6.txt#version: 0.2\n" + "\n".join(merges) + "\n").encode()))
    return path


def test_vocab_is_bytes_then_word_ends_then_merges_then_specials(tmp_path):
    vocab, merges = _vit_b32.clip_vocab_and_merges(_bpe_file(tmp_path))
    assert merges == [("t", "h"), ("th", "e</w>"), ("r", "o"), ("ro", "b"), ("rob", "o"), ("robo", "t</w>")]
    assert len(vocab) == 256 + 256 + len(merges) + 2
    assert vocab["!"] == 0 and vocab["!</w>"] == 256
    assert vocab["the</w>"] == 512 + 1 and vocab["robot</w>"] == 512 + 5
    assert vocab["<|startoftext|>"] == len(vocab) - 2 and vocab["<|endoftext|>"] == len(vocab) - 1


def test_rebuilt_vocab_makes_a_working_clip_tokenizer(tmp_path):
    from transformers import CLIPTokenizer

    vocab, merges = _vit_b32.clip_vocab_and_merges(_bpe_file(tmp_path))
    tok = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)
    ids = tok("The robot").input_ids
    assert tok.convert_ids_to_tokens(ids) == ["<|startoftext|>", "the</w>", "robot</w>", "<|endoftext|>"]
