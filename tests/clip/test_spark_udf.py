"""embed_cover_batches: the mapInPandas function, run here without Spark."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from book_assets.clip import model as clip_model
from book_assets.clip.model import clear_clip_cache
from book_assets.clip.spark_udf import OUTPUT_COLUMNS, OUTPUT_SCHEMA_DDL, embed_cover_batches
from tests.clip.test_embed import reference_embedding


def _frames(paths, sizes):
    frames, i = [], 0
    for size in sizes:
        chunk = paths[i : i + size]
        frames.append(
            pd.DataFrame(
                {
                    "cover_id": np.arange(i, i + len(chunk), dtype=np.int64) + 1000,
                    "edition_key": [f"OL{n}M" for n in range(i, i + len(chunk))],
                    "blob_path": [str(p) for p in chunk],
                }
            )
        )
        i += size
    return frames


@pytest.fixture
def fresh_cache():
    clear_clip_cache()
    yield
    clear_clip_cache()


def test_module_has_no_spark_import():
    import book_assets.clip.spark_udf as mod

    source = open(mod.__file__).read()
    assert "\nimport pyspark" not in source and "\nfrom pyspark" not in source
    assert OUTPUT_SCHEMA_DDL.startswith("cover_id long, edition_key string, embedding array<float>")


def test_batches_equal_reference_and_failures_become_rows(
    tiny_clip_dir, tiny_bundle, real_cover_files, placeholder_files, tmp_path, fresh_cache
):
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8\xff this is not really a jpeg")
    missing = tmp_path / "missing.jpg"
    paths = list(real_cover_files[:6]) + [garbage] + list(real_cover_files[6:10]) + [missing]
    paths += list(placeholder_files[:1]) + [f"file://{real_cover_files[10]}"]
    frames = _frames(paths, [7, 0, 7])
    out = list(embed_cover_batches(iter(frames), model_id=str(tiny_clip_dir), batch_size=5))
    assert len(out) == 4  # 7 -> 5 + 2, empty frame -> nothing, 7 -> 5 + 2
    result = pd.concat(out, ignore_index=True)
    assert list(result.columns) == OUTPUT_COLUMNS
    assert result["cover_id"].dtype == np.int64
    assert result["cover_id"].tolist() == list(range(1000, 1000 + len(paths)))
    assert (result["model_id"] == str(tiny_clip_dir)).all()

    by_path = dict(zip(range(len(paths)), paths))
    for i, row in result.iterrows():
        path = by_path[i]
        if path in (garbage,) or path in placeholder_files:
            assert row["failure_reason"] == "bad_image", row
            assert row["embedding"] is None and row["failure_detail"]
        elif path == missing:
            assert row["failure_reason"] == "read_error", row
            assert row["embedding"] is None and "missing.jpg" in row["failure_detail"]
        else:
            local = str(path).removeprefix("file://")
            from PIL import Image

            ref = reference_embedding(tiny_clip_dir, tiny_bundle.model, Image.open(local).convert("RGB"))
            emb = np.asarray(row["embedding"])
            assert row["failure_reason"] is None and row["failure_detail"] is None
            assert emb.dtype == np.float32 and emb.shape == (tiny_bundle.dim,)
            assert np.isfinite(emb).all()
            np.testing.assert_allclose(np.linalg.norm(emb), 1.0, atol=1e-5)
            np.testing.assert_allclose(emb, ref, atol=1e-5, rtol=0)
    if placeholder_files:
        placeholder_row = result.iloc[paths.index(placeholder_files[0])]
        assert "1x1" in placeholder_row["failure_detail"]


def test_output_converts_to_arrow_schema(tiny_clip_dir, real_cover_files, tmp_path, fresh_cache):
    import pyarrow as pa

    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"GIF89a garbage")
    frames = _frames([real_cover_files[0], bad], [2])
    result = next(embed_cover_batches(iter(frames), model_id=str(tiny_clip_dir)))
    schema = pa.schema(
        [
            ("cover_id", pa.int64()),
            ("edition_key", pa.string()),
            ("embedding", pa.list_(pa.float32())),
            ("model_id", pa.string()),
            ("failure_reason", pa.string()),
            ("failure_detail", pa.string()),
        ]
    )
    table = pa.Table.from_pandas(result, schema=schema, preserve_index=False)
    assert table.column("embedding")[1].as_py() is None
    assert len(table.column("embedding")[0].as_py()) == 16


def test_model_loaded_once_across_many_batches(tiny_clip_dir, real_cover_files, monkeypatch, fresh_cache):
    from transformers import CLIPModel

    calls = []
    real = CLIPModel.from_pretrained.__func__

    def spy(cls, *args, **kwargs):
        calls.append(args[0] if args else kwargs.get("pretrained_model_name_or_path"))
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(CLIPModel, "from_pretrained", classmethod(spy))
    paths = list(real_cover_files[:12])
    total = 0
    for _partition in range(3):  # three "tasks" in the same Python worker
        for frame in embed_cover_batches(iter(_frames(paths, [5, 4, 3])), model_id=str(tiny_clip_dir), batch_size=2):
            total += len(frame)
    assert total == 36
    assert calls == [str(tiny_clip_dir)]


def test_empty_partition_does_not_load_model(tiny_clip_dir, monkeypatch, fresh_cache):
    monkeypatch.setattr(clip_model, "load_clip", lambda *a, **k: pytest.fail("model loaded"))
    assert list(embed_cover_batches(iter([]), model_id=str(tiny_clip_dir))) == []
