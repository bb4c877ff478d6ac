"""publish_year over every publish_date form in the format notes."""
from __future__ import annotations

import datetime as dt

import pytest

from book_assets.openlibrary.publish_dates import publish_year


@pytest.mark.parametrize(
    "value, year",
    [
        ("1961", 1961),
        ("2010-03-21", 2010),
        ("2004-09", 2004),
        ("February 5, 2007", 2007),
        ("Jan 09, 2011", 2011),
        ("December 2018", 2018),
        ("12 January 2002", 2002),
        ("2017-09-01T05:14:17", 2017),
        ("[n.d.]", None),
        ("????", None),
        ("", None),
        ("   ", None),
        ("2001?", 2001),
        ("c1998", 1998),
        ("C1998", 1998),
        ("c. 1998", 1998),
        ("[c1998]", 1998),
        ("© 2019", 2019),
        ("[2019]", 2019),
        ("1998, c1995", 1998),
        ("3000", None),
        ("2999", None),
        ("0999", None),
        ("999", None),
        ("12345", None),
        ("[19--?]", None),
        ("n.d.", None),
        ("Printed in the year MDCCC", None),
    ],
)
def test_forms(value, year):
    assert publish_year(value, current_year=2026) == year


@pytest.mark.parametrize("value", [None, ["2019"], {"value": "2019"}, 2019.0, True, object()])
def test_non_strings_give_none(value):
    assert publish_year(value, current_year=2026) is None


def test_bare_integer_is_a_year():
    assert publish_year(2019, current_year=2026) == 2019
    assert publish_year(3000, current_year=2026) is None


def test_future_relative_to_current_year():
    assert publish_year("2026", current_year=2026) == 2026
    assert publish_year("2027", current_year=2026) is None
    this_year = dt.date.today().year
    assert publish_year(str(this_year)) == this_year
    assert publish_year(str(this_year + 1)) is None
