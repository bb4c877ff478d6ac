"""The fiction job's line accounting from observed metrics: every reason a pass can give is
listed, the parts must add up to the lines read, and metrics that never arrive are an error
rather than a hang."""
from __future__ import annotations

import threading

import pytest

from book_assets.emr.fiction_job import _observed, _reason_counts, _reason_names
from book_assets.openlibrary.dump_lines import SKIP_REASONS
from book_assets.openlibrary.records import REJECT_REASONS, REJECT_NOT_FICTION


class _Observed:
    """Stands in for ``pyspark.sql.Observation`` after the action: ``get`` is the metrics."""

    def __init__(self, metrics: dict) -> None:
        self.get = metrics


class _NeverObserved:
    """An observation whose action never ran: ``get`` blocks."""

    def __init__(self) -> None:
        self.release = threading.Event()

    @property
    def get(self) -> dict:
        self.release.wait()
        return {}


def test_every_edition_reason_is_listed_once():
    names = _reason_names("editions")
    assert len(names) == len(set(names))
    assert {f"malformed:{r}" for r in SKIP_REASONS} <= set(names)
    # not_fiction is decided after the work join, not by the edition pass
    assert set(REJECT_REASONS) - {REJECT_NOT_FICTION} <= set(names)
    assert "not_an_edition" in names and "not_a_work" in _reason_names("works")
    assert "not_an_author" in _reason_names("authors")


def test_counts_by_reason_without_zero_entries():
    reasons = ["malformed:bad_json", "not_english", "no_year"]
    counts = _reason_counts(_Observed({"r0": 2, "r1": 5, "r2": 0, "kept": 3, "total": 10}), "editions", reasons,
                            "candidate")
    assert counts == {"malformed:bad_json": 2, "not_english": 5, "candidate": 3}


def test_counts_that_miss_the_total_are_an_error():
    with pytest.raises(RuntimeError, match="10 lines read"):
        _reason_counts(_Observed({"r0": 2, "kept": 3, "total": 10}), "works", ["not_a_work"], "ok")


def test_empty_input_counts_nothing():
    assert _reason_counts(_Observed({"r0": None, "kept": None, "total": None}), "authors", ["x"], "ok") == {}


def test_metrics_that_never_arrive_raise_instead_of_hanging():
    never = _NeverObserved()
    with pytest.raises(RuntimeError, match="'fiction' never arrived"):
        _observed(never, "fiction", timeout_s=0.2)
    never.release.set()
