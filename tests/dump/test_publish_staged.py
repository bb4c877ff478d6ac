"""Staged dumps copied to where remote Spark jobs read them: S3 (moto's server) and file:// URIs;
the copy is complete, idempotent and replaces an interrupted one."""
from __future__ import annotations

import gzip
import os

import boto3
import pytest

from book_assets.dump.publish import is_same_place, publish_staged
from book_assets.dump.staging import MANIFEST, stage_dump

BUCKET = "book-assets-staged"


@pytest.fixture()
def staged(tmp_path, corpus):
    corpus_dir, _ = corpus
    out = tmp_path / "home" / "staged" / "editions"
    stage_dump("editions", corpus_dir / "editions.txt.gz", "src", "v1", out, part_lines=200)
    return out


@pytest.fixture(scope="module")
def s3():
    """moto's S3 as a server; pyarrow.fs and boto3 both reach it through AWS_ENDPOINT_URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://{host}:{port}"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    server.stop()


def _objects(client, prefix):
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix):]: client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def test_copy_to_s3_is_complete_then_reused(staged, s3):
    local = {p.name: p.read_bytes() for p in staged.iterdir()}
    assert len(local) > 3  # several parts and the manifest
    first = publish_staged(staged, f"s3://{BUCKET}/run1/staged/editions")
    assert not first.reused and first.files == len(local)
    assert first.bytes == sum(len(b) for b in local.values())
    assert _objects(s3, "run1/staged/editions/") == local
    again = publish_staged(staged, f"s3://{BUCKET}/run1/staged/editions")
    assert again.reused and again.files == 0


def test_interrupted_or_stale_copy_is_replaced_whole(staged, s3):
    prefix = "run2/staged/editions/"
    # An interrupted copy (parts, no manifest) plus a part the new staging does not have.
    s3.put_object(Bucket=BUCKET, Key=prefix + "part-00000.txt.gz", Body=b"half written")
    s3.put_object(Bucket=BUCKET, Key=prefix + "part-99999.txt.gz", Body=b"from an older staging")
    result = publish_staged(staged, f"s3://{BUCKET}/{prefix}")
    assert not result.reused
    assert _objects(s3, prefix) == {p.name: p.read_bytes() for p in staged.iterdir()}


def test_restaged_dump_replaces_the_copy(staged, tmp_path, corpus):
    corpus_dir, _ = corpus
    target = (tmp_path / "elsewhere" / "editions").as_uri()  # file://: the copy path, not the same folder
    publish_staged(staged, target)
    stage_dump("editions", corpus_dir / "editions.txt.gz", "src", "v2", staged, part_lines=500)
    result = publish_staged(staged, target)
    assert not result.reused
    copied = tmp_path / "elsewhere" / "editions"
    assert {p.name: p.read_bytes() for p in copied.iterdir()} == {p.name: p.read_bytes() for p in staged.iterdir()}
    assert b'"v2"' in (copied / MANIFEST).read_bytes()


def test_the_staged_folder_itself_is_not_copied(staged):
    assert is_same_place(staged, str(staged))
    assert not is_same_place(staged, staged.as_uri())
    result = publish_staged(staged, str(staged))
    assert result.reused and result.files == 0 and result.uri == str(staged)


def test_a_folder_that_was_never_staged_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        publish_staged(tmp_path / "nothing", (tmp_path / "target").as_uri())


def test_a_new_part_size_restages(staged, corpus):
    corpus_dir, _ = corpus
    again = stage_dump("editions", corpus_dir / "editions.txt.gz", "src", "v1", staged, part_lines=200)
    assert again.reused
    resplit = stage_dump("editions", corpus_dir / "editions.txt.gz", "src", "v1", staged, part_lines=1000)
    assert not resplit.reused and resplit.part_lines == 1000 and resplit.parts < again.parts
    assert resplit.lines == again.lines


def test_lines_dropped_by_staging_are_read_back_wherever_the_parts_are(tmp_path):
    from book_assets.dump.staging import staged_skips

    dump = tmp_path / "editions.txt.gz"
    good = b'/type/edition\t/books/OL1M\t1\t2020-01-01\t{"title": "t"}\n'
    dump.write_bytes(gzip.compress(good + b'/type/edition\t/books/OL2M\t1\t2020-01-01\t{"title": "\xff"}\n' + good))
    out = tmp_path / "staged" / "editions"
    stage_dump("editions", dump, "src", "v1", out, part_lines=10)
    assert staged_skips(str(out)) == {"not_utf8": 1}
    target = (tmp_path / "elsewhere" / "editions").as_uri()
    publish_staged(out, target)
    assert staged_skips(target) == {"not_utf8": 1}
    assert staged_skips(str(tmp_path / "staged" / "authors")) == {}  # nothing staged there
