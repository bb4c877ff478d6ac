"""The one year-spec parser (``book_assets.settings.parse_year_spec``) and every caller that uses it.

``BOOK_ASSETS_YEARS``, the Spark jobs' ``--years``, the EMR launcher's run name/tags, the search
input checks and the offline quickstart all read the same syntax, so each is checked against
the same table here.
"""
from __future__ import annotations

import argparse
import datetime as dt

import pytest

from book_assets.emr.job_runtime import parse_years_arg
from book_assets.search import validation
from book_assets.settings import MAX_YEARS, default_years, parse_year_spec, parse_years

GOOD = [
    ("2019", [2019]),
    ("2015-2024", list(range(2015, 2025))),
    ("2015,2018-2020", [2015, 2018, 2019, 2020]),
    (" 2019 , 2021 - 2023 ", [2019, 2021, 2022, 2023]),
    ("2020,2019", [2019, 2020]),  # what the launcher passes, any order
    ("2019,2019-2020,", [2019, 2020]),  # duplicates and an empty trailing part are harmless
]

BAD = [
    ("abc", "cannot read"),
    ("19", "cannot read"),
    ("2019-20", "cannot read"),
    ("2015;2016", "cannot read"),
    ("2020-2018", "ends before it starts"),
    ("1800-2024", f"at most {MAX_YEARS} years"),
    (",".join(f"{a}-{a + 99}" for a in (1000, 1100, 1200)), f"at most {MAX_YEARS} years"),
    ("", "no years"),
    (" , ", "no years"),
]


@pytest.mark.parametrize(("spec", "years"), GOOD)
def test_good_specs(spec, years):
    assert parse_year_spec(spec) == years
    assert parse_years(spec) == years
    assert parse_years_arg(spec) == years


@pytest.mark.parametrize(("spec", "message"), BAD)
def test_bad_specs_get_a_clear_error(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_year_spec(spec)
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse_years_arg(spec)


def test_error_names_the_setting():
    with pytest.raises(ValueError, match="^BOOK_ASSETS_YEARS: range 2020-2018 ends before it starts"):
        parse_years("2020-2018")
    with pytest.raises(ValueError, match="^--years: cannot read 'x'"):
        parse_year_spec("x", "--years")


def test_empty_setting_means_the_default_years():
    today = dt.date(2026, 5, 1)
    assert parse_years(None, today) == parse_years("  ", today) == default_years(today) == list(range(2016, 2026))


def test_job_argument_errors_reach_argparse():
    parser = argparse.ArgumentParser()
    parser.add_argument("--years", type=parse_years_arg)
    assert parser.parse_args(["--years", "2015,2018-2020"]).years == [2015, 2018, 2019, 2020]
    with pytest.raises(SystemExit):
        parser.parse_args(["--years", "2020-2018"])


def test_launcher_reads_the_same_syntax():
    from book_assets.resources.emr_serverless import years_from_args

    assert years_from_args(["--x", "1", "--years", "2020,2019"]) == [2019, 2020]
    assert years_from_args(["--years", "2015,2018-2020"]) == [2015, 2018, 2019, 2020]
    assert years_from_args(["--model", "m"]) == []
    with pytest.raises(ValueError, match="cannot read"):
        years_from_args(["--years", "20x9"])


def test_search_validation_uses_the_shared_parser():
    assert validation.parse_year_range("2018-2020") == (2018, 2020)
    assert validation.parse_year_range(" 2019 ") == (2019, 2019)
    assert validation.parse_year_range("2018,2019-2020") == (2018, 2020)  # contiguous: one range
    with pytest.raises(ValueError, match="one range"):
        validation.parse_year_range("2015,2018")
    with pytest.raises(ValueError, match="ends before it starts"):
        validation.parse_year_range("2020-2018")
    with pytest.raises(ValueError, match="cannot read"):
        validation.parse_year_range("abc")
    with pytest.raises(ValueError, match="outside"):
        validation.parse_year_range("0999")
    assert validation.normalize_years("2015,2018-2020") == [2015, 2018, 2019, 2020]
    assert validation.check_year_range(2018, 2020) == (2018, 2020)
    with pytest.raises(ValueError, match="ends before it starts"):
        validation.check_year_range(2020, 2018)
    with pytest.raises(ValueError, match=f"at most {MAX_YEARS} years"):
        validation.normalize_years((1000, 1300))


@pytest.mark.parametrize(("spec", "years"), [("2019", [2019]), ("2015,2018-2019", [2015, 2018, 2019])])
def test_offline_quickstart_corpus_takes_every_valid_spec(tmp_path, spec, years):
    from book_assets.corpus.generator import CorpusManifest
    from book_assets.quickstart import demo_corpus

    corpus = demo_corpus(tmp_path / "corpus", spec, n_editions=200)
    assert sorted(CorpusManifest.load(corpus).years) == years
    stamp = (corpus / "editions.txt.gz").stat().st_mtime_ns
    demo_corpus(tmp_path / "corpus", spec, n_editions=200)  # same years: reused as it is
    assert (corpus / "editions.txt.gz").stat().st_mtime_ns == stamp
    demo_corpus(tmp_path / "corpus", "2020", n_editions=200)  # other years: generated again
    assert CorpusManifest.load(corpus).years == [2020]
