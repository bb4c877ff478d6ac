"""``BookAssetsEmrServerlessClient`` when AWS misbehaves (fake EMR Serverless / CloudWatch Logs
clients, a real Dagster step): polling errors cancel the job run instead of orphaning it, transient
ones are retried, and an unreadable driver log neither loses the report nor masks a failure."""
from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from dagster import DagsterEventType, MaterializeResult, asset, materialize

from book_assets.resources import emr_serverless
from book_assets.resources.emr_serverless import (
    BookAssetsEmrServerlessClient,
    EmrServerlessConfig,
    build_start_job_run_request,
)

CFG = EmrServerlessConfig(application_id="app", execution_role_arn="arn:aws:iam::1:role/r", s3_prefix="s3://b/p")


def aws_error(code: str, operation: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} message"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


def pipes(method: str, params: dict) -> str:
    return json.dumps({"__dagster_pipes_version": "0.1", "method": method, "params": params})


REPORT = {"job": "fiction", "rows": 5}
STDOUT = ["driver says hi", pipes("opened", {}), pipes("report_custom_message", {"payload": REPORT}), pipes("closed", {})]


def job_run(state: str, details: str = "") -> dict:
    return {"jobRun": {"state": state, "applicationId": "app", "jobRunId": "jr-1", "stateDetails": details}}


class FakeEmr:
    """GetJobRun answers ``outcomes`` in turn (a state, or an exception to raise); the last repeats."""

    def __init__(self, *outcomes, cancel_error: Exception | None = None) -> None:
        self.outcomes, self.cancel_error = list(outcomes), cancel_error
        self.polls, self.cancelled = 0, []

    def start_job_run(self, **kwargs):
        return {"applicationId": "app", "jobRunId": "jr-1", "arn": "arn:jr-1"}

    def get_job_run(self, **kwargs):
        outcome = self.outcomes[min(self.polls, len(self.outcomes) - 1)]
        self.polls += 1
        if isinstance(outcome, Exception):
            raise outcome
        return job_run(*outcome) if isinstance(outcome, tuple) else job_run(outcome)

    def get_dashboard_for_job_run(self, **kwargs):
        return {"url": "https://spark-ui"}

    def cancel_job_run(self, **kwargs):
        self.cancelled.append((kwargs["applicationId"], kwargs["jobRunId"]))
        if self.cancel_error:
            raise self.cancel_error
        return {}


class FakeLogs:
    """The driver's stdout stream holds ``STDOUT`` (so the Pipes session closes at once); its
    GetLogEvents calls raise the errors in ``stdout_errors`` first."""

    class exceptions:
        class ResourceNotFoundException(Exception):
            pass

    def __init__(self, *stdout_errors: Exception) -> None:
        self.stdout_errors = list(stdout_errors)

    def describe_log_streams(self, **kwargs):
        return {"logStreams": [{"logStreamName": kwargs["logStreamNamePrefix"]}]}

    def get_log_events(self, **kwargs):
        if not kwargs["logStreamName"].endswith("/stdout"):
            return {"events": [], "nextForwardToken": kwargs.get("nextToken") or "start"}
        if self.stdout_errors:
            raise self.stdout_errors.pop(0)
        if kwargs.get("nextToken") == "end":
            return {"events": [], "nextForwardToken": "end"}
        return {"events": [{"message": line} for line in STDOUT], "nextForwardToken": "end"}


def run_step(emr: FakeEmr, logs: FakeLogs | None = None, poll_interval: float = 0.01):
    """Materialize one asset running the job; the step's error (or None) and the reports."""
    reports = []

    @asset
    def fiction(context):
        client = BookAssetsEmrServerlessClient(emr, logs or FakeLogs(), None, poll_interval=poll_interval)
        request = build_start_job_run_request(CFG, "fiction", ["--years", "2019"])
        reports.extend(client.run(context=context, start_job_run_params=request).get_custom_messages())
        return MaterializeResult()

    result = materialize([fiction], raise_on_error=False)
    failure = next((e.step_failure_data for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE), None)
    return failure, reports


def test_a_polling_error_cancels_the_job_run_and_names_it():
    """Expired credentials during a long job: the job run must not keep writing after the step failed."""
    emr = FakeEmr("RUNNING", aws_error("ExpiredTokenException", "GetJobRun"))
    failure, _ = run_step(emr)
    assert emr.cancelled == [("app", "jr-1")]
    assert failure.error.cls_name == "Failure"
    message = failure.error.message
    assert "job run jr-1 (application app)" in message and "ExpiredTokenException" in message
    assert "was cancelled" in message
    assert "ExpiredTokenException" in failure.error.cause.message  # the original error is kept
    assert failure.user_failure_data.metadata["emr_cancelled"].value is True


def test_a_failed_cancel_is_reported_with_the_original_error():
    emr = FakeEmr("RUNNING", "EXPLODED", cancel_error=aws_error("AccessDeniedException", "CancelJobRun"))
    failure, _ = run_step(emr)
    assert emr.cancelled == [("app", "jr-1")]
    message = failure.error.message
    assert "job run jr-1 (application app)" in message and "Unexpected state" in message and "EXPLODED" in message
    assert "could NOT be cancelled" in message and "AccessDeniedException" in message
    assert failure.user_failure_data.metadata["emr_cancelled"].value is False


def test_transient_polling_errors_are_retried():
    emr = FakeEmr("RUNNING", aws_error("ThrottlingException", "GetJobRun"),
                  aws_error("ServiceUnavailableException", "GetJobRun", 503),
                  EndpointConnectionError(endpoint_url="https://emr-serverless.us-east-1.amazonaws.com"), "SUCCESS")
    failure, reports = run_step(emr)
    assert failure is None
    assert reports == [REPORT]
    assert emr.polls == 5 and emr.cancelled == []


def test_transient_polling_errors_are_retried_a_bounded_number_of_times(monkeypatch):
    monkeypatch.setattr(emr_serverless, "POLL_ATTEMPTS", 3)
    emr = FakeEmr(aws_error("ThrottlingException", "GetJobRun"))
    failure, _ = run_step(emr)
    assert emr.polls == 3
    assert emr.cancelled == [("app", "jr-1")]
    assert "ThrottlingException" in failure.error.message and "jr-1" in failure.error.message


@pytest.mark.parametrize("code,status", [("ThrottlingException", 400), ("ServiceUnavailableException", 503)])
def test_a_throttled_log_read_does_not_lose_the_report(code, status):
    """The job succeeds; one GetLogEvents call per reader (messages, forwarder) was refused."""
    emr = FakeEmr("RUNNING", "RUNNING", "RUNNING", "SUCCESS")
    failure, reports = run_step(emr, FakeLogs(aws_error(code, "GetLogEvents", status),
                                              aws_error(code, "GetLogEvents", status)), poll_interval=0.3)
    assert failure is None
    assert reports == [REPORT]


def test_an_unreadable_log_does_not_mask_the_failed_job_run():
    emr = FakeEmr(("FAILED", "Job failed, ExitCode: 1"))
    failure, _ = run_step(emr, FakeLogs(*[aws_error("AccessDeniedException", "GetLogEvents")] * 10))
    message = failure.error.message
    assert failure.error.cls_name == "Failure"
    assert "job run jr-1 (application app) ended FAILED: Job failed, ExitCode: 1" in message
    assert "(cannot read driver log cloudwatch:/aws/emr-serverless:" in message and "AccessDeniedException" in message
    assert emr.cancelled == []  # it had ended
