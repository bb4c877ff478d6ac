"""Adult-fiction classification of a book from its subject headings.

Most subject data lives on works, so callers pass the union of the edition's and the work's
subjects. Subjects are free strings ("Fiction", "Detective and mystery stories",
"FICTION / General", "Juvenile fiction", "Nonfiction"); they are compared case-insensitively
after punctuation is turned into spaces, word by word, so "Nonfiction" never counts as
"fiction".
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

_NON_WORD = re.compile(r"[^0-9a-z]+")

# A subject with one of these words/phrases says "fiction" (in a fiction sense).
_FICTION_WORDS = {"fiction", "fictions", "novel", "novels", "novella", "novellas", "stories"}
# ... unless it is scholarship ABOUT fiction, or a non-fiction kind of "stories".
_NOT_A_FICTION_SIGNAL = (
    "criticism", "authorship", "technique", "study and teaching", "bibliography",
    "history and criticism", "appreciation", "success stories", "true stories",
    "bible stories", "case stories", "life stories",
)
# Any subject with one of these marks the book juvenile / young adult.
_JUVENILE = (
    "juvenile", "children s", "childrens", "young adult", "young adults", "picture book",
    "picture books", "board books", "nursery rhymes", "ya fiction", "teen fiction",
    "infantil", "juvenil", "jeunesse",
)
# Any subject with one of these marks the book non-fiction.
_NONFICTION = ("nonfiction", "non fiction", "nonfictions", "non fictions", "no ficcion")


def normalize_subject(subject: str) -> str:
    """Lower-case, apostrophes dropped into a space, punctuation → single spaces.

    ``"Children's fiction"`` → ``"children s fiction"``; ``"FICTION / General"`` →
    ``"fiction general"``; ``"Non-fiction"`` → ``"non fiction"``.
    """
    return " ".join(_NON_WORD.split(subject.lower())).strip()


def _has_phrase(normalized: str, phrases: Iterable[str]) -> bool:
    padded = f" {normalized} "
    return any(f" {phrase} " in padded for phrase in phrases)


def is_juvenile_subject(subject: str) -> bool:
    """Whether one subject marks a juvenile, children's or young-adult book."""
    return _has_phrase(normalize_subject(subject), _JUVENILE)


def is_nonfiction_subject(subject: str) -> bool:
    """Whether one subject marks a non-fiction book ("Nonfiction", "Juvenile nonfiction"...)."""
    return _has_phrase(normalize_subject(subject), _NONFICTION)


def is_fiction_subject(subject: str) -> bool:
    """Whether one subject says fiction/novels/stories in a fiction sense."""
    normalized = normalize_subject(subject)
    if _has_phrase(normalized, _NONFICTION) or _has_phrase(normalized, _NOT_A_FICTION_SIGNAL):
        return False
    return any(word in _FICTION_WORDS for word in normalized.split())


def fiction_signals(subjects: Iterable[str]) -> tuple[bool, bool]:
    """``(blocked, fiction)`` for a list of subjects: does any subject mark the book juvenile or
    non-fiction, does any say fiction. Non-string items are ignored.

    The scan stops at the first blocking subject, so with ``blocked`` set ``fiction`` only covers
    the subjects before it (it no longer matters). ``blocked`` of a union of lists is the ``or``
    of each list's, and so is ``fiction`` whenever no list is blocked, so a Spark job can compute
    both per edition and per work and decide :func:`is_fiction` after the join.
    """
    fiction = False
    for subject in subjects or ():
        if not isinstance(subject, str):
            continue
        blocks, says_fiction = _subject_signals(subject)
        if blocks:
            return True, fiction
        fiction = fiction or says_fiction
    return False, fiction


@lru_cache(maxsize=1 << 16)
def _subject_signals(subject: str) -> tuple[bool, bool]:
    """``(blocks, says_fiction)`` of one subject; cached, as dumps repeat the same headings."""
    if is_juvenile_subject(subject) or is_nonfiction_subject(subject):
        return True, False
    return False, is_fiction_subject(subject)


def is_fiction(subjects: Iterable[str]) -> bool:
    """Adult fiction: some subject says fiction and none says juvenile or non-fiction.

    Non-string items are ignored; no subjects at all gives ``False``.
    """
    blocked, fiction = fiction_signals(subjects)
    return fiction and not blocked
