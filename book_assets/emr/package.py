"""Build and upload what an EMR Serverless job run needs (see ``book_assets/emr/README.md``).

``python -m book_assets.emr.package build``   → ``dist/emr/``: ``book_assets.zip`` (the package, for
``--py-files``), ``jobs/*_job.py`` (entry points), ``requirements-emr.txt`` and ``Dockerfile``
(custom image recipe); ``--pack-env`` also packs the current conda env with ``conda-pack``
(the archive carries its own Python 3.11, which EMR 7.x does not have).

``python -m book_assets.emr.package upload --s3-prefix s3://bucket/prefix [--tag T] [--env-archive F]``
→ ``s3://bucket/prefix/artifacts/<tag>/{book_assets.zip, jobs/…, pyspark_env.tar.gz}``, exactly
where :class:`~book_assets.resources.emr_serverless.EmrServerlessConfig` looks for them.

``python -m book_assets.emr.package dockerfile [--release emr-7.5.0]`` prints the image recipe.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # .../book_assets
JOBS_DIR = Path(__file__).resolve().parent
CODE_ZIP = "book_assets.zip"
ENV_ARCHIVE = "pyspark_env.tar.gz"

# What the job scripts import on the cluster. pyspark is NOT listed: EMR provides it (Spark 3.5.x
# on EMR 7.x); a second pyspark in the env would shadow the cluster's and break the driver.
JOB_REQUIREMENTS = [
    "dagster-pipes==1.13.27",
    "pyarrow>=18",
    "numpy>=2,<3",
    "pandas>=2.2,<3",
    "pillow>=11",
    "requests>=2.32",
    "urllib3>=2",
    "tenacity>=9",
    "orjson>=3.10",  # the fiction job's fast JSON path (book_assets/openlibrary/dump_lines.py)
    "torch==2.13.0",  # CPU wheels: --extra-index-url https://download.pytorch.org/whl/cpu
    "transformers>=5.20,<6",
    "tokenizers>=0.22",
    "safetensors>=0.6",
]

# EMR release → (Spark, Python the image ships): the Spark versions are those of the EMR
# Serverless release pages ("release-version-7x0"). Verify against the notes of your release.
RELEASES = {
    "emr-6.15.0": ("3.4.1", "3.7"),
    "emr-7.0.0": ("3.5.0", "3.9"),
    "emr-7.1.0": ("3.5.0", "3.9"),
    "emr-7.2.0": ("3.5.1", "3.9"),
    "emr-7.3.0": ("3.5.1", "3.9"),
    "emr-7.4.0": ("3.5.2", "3.9"),
    "emr-7.5.0": ("3.5.2", "3.9"),
}

DOCKERFILE = """\
# Custom EMR Serverless image for book_assets (python_env=image, image_python=/usr/bin/python3.11).
# Build on the architecture of the application (x86_64 or arm64), push to ECR, then
#   aws emr-serverless update-application --application-id $APP \\
#       --image-configuration '{{"imageUri": "<account>.dkr.ecr.<region>.amazonaws.com/book-assets:{release}"}}'
FROM public.ecr.aws/emr-serverless/spark/{release}:latest
USER root
RUN dnf install -y python3.11 python3.11-pip && dnf clean all
COPY requirements-emr.txt /tmp/requirements-emr.txt
RUN python3.11 -m pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu \\
        -r /tmp/requirements-emr.txt
COPY book_assets.zip /opt/book_assets/book_assets.zip
ENV PYTHONPATH=/opt/book_assets/book_assets.zip
# EMR Serverless requires the image to run as hadoop
USER hadoop:hadoop
"""


def build_code_zip(dest: Path) -> Path:
    """``book_assets.zip``: the package sources and data files, importable from ``--py-files``.

    Entries are written in sorted order with a fixed timestamp so the zip is reproducible.
    """
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / CODE_ZIP
    files = sorted(
        p for p in PACKAGE_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    )
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            info = zipfile.ZipInfo(str(Path("book_assets") / path.relative_to(PACKAGE_DIR)), (2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    return out


def job_scripts() -> list[Path]:
    return sorted(JOBS_DIR.glob("*_job.py"))


def pack_conda_env(dest: Path, env_prefix: str | None = None) -> Path:
    """Pack a conda env (it must hold Python 3.11 and JOB_REQUIREMENTS, built on Linux for the
    application's architecture) with ``conda-pack``."""
    if shutil.which("conda-pack") is None:
        raise SystemExit("conda-pack is not installed: `conda install -c conda-forge conda-pack`, or use the image recipe")
    out = dest / ENV_ARCHIVE
    cmd = ["conda-pack", "--output", str(out), "--force"]
    if env_prefix:
        cmd += ["--prefix", env_prefix]
    subprocess.run(cmd, check=True)
    return out


def build(dest: Path, release: str = "emr-7.5.0", pack_env: bool = False, env_prefix: str | None = None) -> dict[str, Path]:
    """Everything under ``dest``; returns {relative key: local path} ready for :func:`upload`.

    Only what the build writes is replaced (``book_assets.zip``, ``jobs/``, ``requirements-emr.txt``,
    ``Dockerfile``, with ``pack_env`` the env archive): anything else in ``dest`` is left alone.
    """
    if (dest / "jobs").is_dir():
        shutil.rmtree(dest / "jobs")  # no entry point of a job that no longer exists
    (dest / "jobs").mkdir(parents=True)
    built = {CODE_ZIP: build_code_zip(dest)}
    for script in job_scripts():
        target = dest / "jobs" / script.name
        shutil.copy2(script, target)
        built[f"jobs/{script.name}"] = target
    (dest / "requirements-emr.txt").write_text("\n".join(JOB_REQUIREMENTS) + "\n")
    (dest / "Dockerfile").write_text(DOCKERFILE.format(release=release))
    if pack_env:
        built[ENV_ARCHIVE] = pack_conda_env(dest, env_prefix)
    return built


def upload(files: dict[str, Path], s3_prefix: str, tag: str = "latest", client=None) -> dict[str, str]:
    """Upload ``files`` to ``<s3_prefix>/artifacts/<tag>/<key>``; returns {key: s3 uri}."""
    import boto3

    if not s3_prefix.startswith("s3://"):
        raise SystemExit(f"--s3-prefix must be an s3:// URI, got {s3_prefix!r}")
    client = client or boto3.client("s3", endpoint_url=os.environ.get("BOOK_ASSETS_EMR_ENDPOINT_URL") or None)
    bucket, _, prefix = s3_prefix[5:].partition("/")
    base = "/".join(p for p in (prefix.strip("/"), "artifacts", tag) if p)
    uris = {}
    for key, path in sorted(files.items()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        client.upload_file(str(path), bucket, f"{base}/{key}", ExtraArgs={"Metadata": {"sha256": digest}})
        uris[key] = f"s3://{bucket}/{base}/{key}"
    return uris


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m book_assets.emr.package", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build artifacts into --out")
    b.add_argument("--out", default="dist/emr")
    b.add_argument("--release", default=os.environ.get("BOOK_ASSETS_EMR_RELEASE_LABEL", "emr-7.5.0"))
    b.add_argument("--pack-env", action="store_true", help="also conda-pack the env (see README)")
    b.add_argument("--env-prefix", default=None, help="conda env prefix to pack (default: active env)")
    u = sub.add_parser("upload", help="build, then upload to <s3-prefix>/artifacts/<tag>/")
    u.add_argument("--s3-prefix", default=os.environ.get("BOOK_ASSETS_EMR_S3_PREFIX", ""))
    u.add_argument("--tag", default=os.environ.get("BOOK_ASSETS_EMR_ARTIFACTS_TAG", "latest"))
    u.add_argument("--out", default="dist/emr")
    u.add_argument("--release", default=os.environ.get("BOOK_ASSETS_EMR_RELEASE_LABEL", "emr-7.5.0"))
    u.add_argument("--env-archive", default="", help="prebuilt packed env to upload as pyspark_env.tar.gz")
    u.add_argument("--pack-env", action="store_true")
    u.add_argument("--env-prefix", default=None)
    d = sub.add_parser("dockerfile", help="print the custom image recipe")
    d.add_argument("--release", default=os.environ.get("BOOK_ASSETS_EMR_RELEASE_LABEL", "emr-7.5.0"))
    args = parser.parse_args(argv)

    if args.command == "dockerfile":
        sys.stdout.write(DOCKERFILE.format(release=args.release))
        return
    if args.release not in RELEASES:
        print(f"note: {args.release} not in the known pairing table {sorted(RELEASES)}; check its Python/Spark versions",
              file=sys.stderr)
    files = build(Path(args.out), args.release, args.pack_env, args.env_prefix)
    if args.command == "build":
        for key, path in sorted(files.items()):
            print(f"{key}\t{path}")
        return
    if args.env_archive:
        files[ENV_ARCHIVE] = Path(args.env_archive)
    for key, uri in upload(files, args.s3_prefix, args.tag).items():
        print(f"{key}\t{uri}")


if __name__ == "__main__":
    main()
