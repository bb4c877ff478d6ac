"""is_fiction: adult fiction from the union of edition and work subjects."""
from __future__ import annotations

import pytest

from book_assets.openlibrary.fiction import is_fiction, normalize_subject


@pytest.mark.parametrize(
    "subjects",
    [
        ["Fiction"],
        ["fiction"],
        ["FICTION"],
        ["Science fiction"],
        ["Detective and mystery stories"],
        ["Fiction, general"],
        ["FICTION / General"],
        ["Fiction / Thrillers / Suspense"],
        ["Romance fiction"],
        ["Fantasy fiction"],
        ["American fiction"],
        ["Novels"],
        ["Historical fiction", "London (England)"],
        ["Love stories"],
        ["Short stories"],
        ["History", "Fiction"],
        ["Sherlock Holmes (Fictitious character)", "Fiction"],
        ["England -- Fiction."],
    ],
)
def test_adult_fiction(subjects):
    assert is_fiction(subjects) is True


@pytest.mark.parametrize(
    "subjects",
    [
        [],
        ["History"],
        ["Nonfiction"],
        ["NONFICTION"],
        ["Non-fiction"],
        ["Non fiction"],
        ["Juvenile nonfiction"],
        ["Juvenile fiction"],
        ["Fiction", "Juvenile fiction"],
        ["Children's fiction"],
        ["Childrens fiction"],
        ["Children’s stories"],
        ["Children's stories"],
        ["Juvenile literature", "Fiction"],
        ["Young adult fiction"],
        ["Fiction", "Nonfiction"],
        ["American fiction -- History and criticism"],
        ["Fiction -- Authorship"],
        ["Sherlock Holmes (Fictitious character)"],
        ["Success stories"],
    ],
)
def test_not_adult_fiction(subjects):
    assert is_fiction(subjects) is False


def test_union_of_edition_and_work_subjects():
    edition, work = ["Paperback edition"], ["Fiction"]
    assert is_fiction(edition + work)


def test_tolerates_non_strings_and_generators():
    assert is_fiction(s for s in ["Fiction", None, 3])  # type: ignore[misc]
    assert not is_fiction(None)  # type: ignore[arg-type]


def test_normalize():
    assert normalize_subject("Children's  fiction!") == "children s fiction"
    assert normalize_subject("Non-fiction") == "non fiction"


@pytest.mark.parametrize("edition, work", [
    (["Fiction"], []), ([], ["Novels"]), (["Fiction"], ["Juvenile fiction"]), (["Juvenile fiction"], ["Fiction"]),
    (["Nonfiction"], ["Fiction"]), ([], []), (["History"], ["Stories"]), (["Success stories"], ["Biography"]),
    (["Fiction", None], [3, "Young adult fiction"]),
])
def test_signals_of_two_lists_combine_to_is_fiction_of_their_union(edition, work):
    """What the Spark job relies on: it ORs the edition's and the work's flags after the join."""
    from book_assets.openlibrary.fiction import fiction_signals

    eb, ef = fiction_signals(edition)
    wb, wf = fiction_signals(work)
    assert ((ef or wf) and not (eb or wb)) is is_fiction(edition + work)
