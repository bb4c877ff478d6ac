"""``CloudWatchDriverLog`` against a stubbed CloudWatch Logs client (botocore's Stubber: the real
client, its parameter validation and modeled exceptions, with scripted answers)."""
from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from book_assets.resources import emr_serverless
from book_assets.resources.emr_serverless import CloudWatchDriverLog, DriverLogError

GROUP, STREAM = "/aws/emr-serverless", "book-assets/applications/app/jobs/jr-1/SPARK_DRIVER/stdout"
REPORT = json.dumps({"__dagster_pipes_version": "0.1", "method": "report_custom_message", "params": {"payload": {"rows": 5}}})


@pytest.fixture()
def logs():
    client = boto3.client("logs", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def page(stubber, after, messages, token):
    """One GetLogEvents answer: ``messages`` read after token ``after``, then ``token``."""
    expected = {"logGroupName": GROUP, "logStreamName": STREAM, "startFromHead": True}
    if after:
        expected["nextToken"] = after
    events = [{"timestamp": 1, "message": m, "ingestionTime": 1} for m in messages]
    stubber.add_response("get_log_events", {"events": events, "nextForwardToken": token}, expected)


def test_empty_pages_are_followed_until_the_token_repeats(logs):
    """GetLogEvents "can return empty results while there are more log events available through the token"."""
    client, stubber = logs
    log = CloudWatchDriverLog(client, GROUP, STREAM)
    page(stubber, None, [], "f/1")
    page(stubber, "f/1", ["hello", REPORT], "f/2")
    page(stubber, "f/2", [], "f/2")
    assert log.read_from(None) == ("f/2", f"hello\n{REPORT}")
    page(stubber, "f/2", [], "f/2")
    assert log.read_from("f/2") is None
    page(stubber, None, [], "f/1")
    page(stubber, "f/1", ["hello", REPORT], "f/2")
    page(stubber, "f/2", [], "f/2")
    page(stubber, "f/2", [], "f/2")  # tail() reads on until nothing more comes
    assert log.tail() == "hello"  # Pipes messages left out


def test_pages_per_read_are_capped_and_the_next_read_goes_on(logs, monkeypatch):
    client, stubber = logs
    monkeypatch.setattr(emr_serverless, "MAX_LOG_PAGES", 3)
    log = CloudWatchDriverLog(client, GROUP, STREAM)
    for after, token in ((None, "f/1"), ("f/1", "f/2"), ("f/2", "f/3")):
        page(stubber, after, [], token)
    assert log.read_from(None) == ("f/3", "")  # only empty pages so far: the cursor still moves on
    page(stubber, "f/3", ["late line"], "f/4")
    page(stubber, "f/4", [], "f/4")
    assert log.read_from("f/3") == ("f/4", "late line")


@pytest.mark.parametrize("code,status", [("ThrottlingException", 400), ("ServiceUnavailableException", 503),
                                         ("InternalFailure", 500)])
def test_throttling_and_5xx_read_as_nothing_yet(logs, code, status):
    client, stubber = logs
    log = CloudWatchDriverLog(client, GROUP, STREAM)
    stubber.add_client_error("get_log_events", service_error_code=code, http_status_code=status)
    assert log.read_from(None) is None
    stubber.add_client_error("describe_log_streams", service_error_code=code, http_status_code=status)
    assert log.exists() is False
    page(stubber, None, ["line"], "f/1")
    page(stubber, "f/1", [], "f/1")
    assert log.read_from(None) == ("f/1", "line")


def test_missing_stream_reads_as_nothing_yet(logs):
    client, stubber = logs
    log = CloudWatchDriverLog(client, GROUP, STREAM)
    stubber.add_client_error("get_log_events", service_error_code="ResourceNotFoundException", http_status_code=400)
    assert log.read_from(None) is None
    stubber.add_client_error("describe_log_streams", service_error_code="ResourceNotFoundException", http_status_code=400)
    assert log.exists() is False


def test_other_errors_name_the_stream_and_tail_gives_the_reason(logs):
    client, stubber = logs
    log = CloudWatchDriverLog(client, GROUP, STREAM)
    stubber.add_client_error("get_log_events", service_error_code="AccessDeniedException", http_status_code=400)
    with pytest.raises(DriverLogError, match=f"cloudwatch:{GROUP}:{STREAM}.*AccessDeniedException"):
        log.read_from(None)
    stubber.add_client_error("describe_log_streams", service_error_code="AccessDeniedException", http_status_code=400)
    with pytest.raises(DriverLogError, match="AccessDeniedException"):
        log.exists()
    # describing a failed job run must not be masked by the unreadable log: the reason is the tail
    stubber.add_client_error("get_log_events", service_error_code="AccessDeniedException", http_status_code=400)
    tail = log.tail()
    assert tail.startswith(f"(cannot read driver log cloudwatch:{GROUP}:{STREAM}") and "AccessDeniedException" in tail
