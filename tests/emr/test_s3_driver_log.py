"""``S3DriverLog``: only "not written yet" is silent; any other S3 failure names the object's URI."""
from __future__ import annotations

import gzip

import boto3
import pytest
from botocore.exceptions import ClientError

from book_assets.resources.emr_serverless import DriverLogError, S3DriverLog


@pytest.fixture(scope="module")
def s3():
    """moto's S3 as a loopback server (as the other S3 tests use it) with one bucket, ``logs``."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    client = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket="logs")
    yield client
    server.stop()


def test_object_not_written_yet_reads_as_nothing(s3):
    log = S3DriverLog(s3, "logs", "jobs/run1/SPARK_DRIVER/stdout.gz")
    assert log.exists() is False
    assert log.read_from(None) is None
    s3.put_object(Bucket="logs", Key=log.key, Body=gzip.compress(b"one\ntwo\npart"))
    assert log.exists() is True
    assert log.read_from(None) == (8, "one\ntwo")


def test_missing_bucket_is_an_error_naming_the_uri(s3):
    log = S3DriverLog(s3, "no-such-bucket", "jobs/run1/SPARK_DRIVER/stdout.gz")
    with pytest.raises(DriverLogError, match="s3://no-such-bucket/jobs/run1/SPARK_DRIVER/stdout.gz"):
        log.read_from(None)


class _DeniedClient:
    """What S3 answers without ``s3:GetObject`` on the log prefix (HeadObject: a bare 403)."""

    def get_object(self, **kwargs):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")

    def head_object(self, **kwargs):
        raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadObject")


def test_access_denied_is_raised_not_taken_for_an_empty_log():
    log = S3DriverLog(_DeniedClient(), "logs", "jobs/run1/SPARK_DRIVER/stdout.gz")
    with pytest.raises(DriverLogError, match=r"s3://logs/jobs/run1/SPARK_DRIVER/stdout.gz: AccessDenied"):
        log.read_from(None)
    with pytest.raises(DriverLogError, match="403"):
        log.exists()
    # describing a failed job run must not be masked by the unreadable log: the reason is the tail
    assert "AccessDenied" in log.tail() and "s3://logs/" in log.tail()


def test_forwarder_says_once_why_it_stops_instead_of_dying():
    import io
    import threading

    from book_assets.resources.emr_serverless import DriverLogForwarder

    target = io.StringIO()
    forwarder = DriverLogForwarder(S3DriverLog(_DeniedClient(), "logs", "jobs/run1/SPARK_DRIVER/stderr.gz"), target,
                                   interval=0.01)
    forwarder.start({}, threading.Event())
    forwarder.stop()
    assert not forwarder.is_running()
    lines = target.getvalue().splitlines()
    assert len(lines) == 1 and "cannot be forwarded" in lines[0] and "s3://logs/jobs/run1/SPARK_DRIVER/stderr.gz" in lines[0]


class _SlowDownClient:
    """S3 throttling a busy prefix (503 SlowDown) until ``ok_after`` calls, then the object."""

    def __init__(self, ok_after: int) -> None:
        self.calls, self.ok_after = 0, ok_after

    def get_object(self, **kwargs):
        import io

        self.calls += 1
        if self.calls <= self.ok_after:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."},
                               "ResponseMetadata": {"HTTPStatusCode": 503}}, "GetObject")
        return {"Body": io.BytesIO(gzip.compress(b"one\n"))}

    head_object = get_object


def test_throttling_reads_as_nothing_yet_not_as_an_error():
    log = S3DriverLog(_SlowDownClient(ok_after=2), "logs", "jobs/run1/SPARK_DRIVER/stdout.gz")
    assert log.read_from(None) is None
    assert log.exists() is False
    assert log.read_from(None) == (4, "one")
