"""``python -m book_assets.emr.package build --out DIR`` writes its artifacts into DIR and touches
nothing else there."""
import zipfile

from book_assets.emr import package


def _tree(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_build_keeps_other_files_in_the_out_dir(tmp_path):
    out = tmp_path / "dist"
    (out / "wheels").mkdir(parents=True)
    (out / "wheels" / "other-1.0-py3-none-any.whl").write_bytes(b"not ours")
    (out / "notes.txt").write_text("keep me")
    package.main(["build", "--out", str(out)])
    assert (out / "wheels" / "other-1.0-py3-none-any.whl").read_bytes() == b"not ours"
    assert (out / "notes.txt").read_text() == "keep me"
    assert zipfile.ZipFile(out / package.CODE_ZIP).namelist()
    assert {p.name for p in (out / "jobs").iterdir()} == {p.name for p in package.job_scripts()}
    assert (out / "requirements-emr.txt").exists() and (out / "Dockerfile").exists()


def test_rebuild_is_idempotent_and_drops_stale_job_scripts(tmp_path):
    out = tmp_path / "emr"
    first_files = package.build(out)
    first = _tree(out)
    (out / "jobs" / "retired_job.py").write_text("# a job that no longer exists\n")
    second_files = package.build(out)
    assert second_files == first_files
    assert _tree(out) == first  # byte for byte, the stale entry point gone
