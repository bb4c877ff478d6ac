"""A range run records one result on every year it built: sums over the years must not read as
each year's own figures (its row count, its *Plots*)."""
from __future__ import annotations

from dagster import MetadataValue

from book_assets.assets.results import range_metadata

METADATA = {"dagster/row_count": MetadataValue.int(107), "covers": MetadataValue.int(120),
            "model": MetadataValue.text("m"), "per_year": MetadataValue.json({"2019": 100, "2020": 7})}


def test_totals_of_several_years_are_labelled_as_the_range():
    out = range_metadata(METADATA, {"dagster/row_count", "covers"}, [2019, 2020])
    assert "dagster/row_count" not in out and "covers" not in out
    assert out["range_row_count"].value == 107 and out["range_covers"].value == 120
    assert out["range_years"].value == ["2019", "2020"]
    assert out["model"] == METADATA["model"] and out["per_year"] == METADATA["per_year"]


def test_one_year_keeps_its_figures():
    assert range_metadata(METADATA, {"dagster/row_count", "covers"}, ["2019"]) == METADATA
