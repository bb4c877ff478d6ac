"""``storage.write_text`` / ``write_bytes`` on local paths: whole files, no tmp file left behind."""
from __future__ import annotations

import os

import pytest

from book_assets import storage


def test_write_text_replaces_the_file_whole(tmp_path):
    target = tmp_path / "deep" / "manifest.json"
    storage.write_text(str(target), "first")
    storage.write_text(str(target), "second")
    assert storage.read_text(str(target)) == "second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["manifest.json"]


def test_a_failed_replace_keeps_the_old_file_and_removes_the_tmp_file(tmp_path, monkeypatch):
    target = tmp_path / "manifest.json"
    storage.write_text(str(target), "old")

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied", dst)

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        storage.write_bytes(str(target), b"new")
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_the_data_is_synced_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    storage.write_bytes(str(tmp_path / "x.bin"), b"\x00" * 10)
    assert events == ["fsync", "replace"]
