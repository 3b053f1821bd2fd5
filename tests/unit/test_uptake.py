"""Accepted but unchanged, changed but unasked (services.tracking.uptake)."""

from __future__ import annotations

import pytest

from contracts.events import Disposition
from services.tracking.legal_text import diff, parse_text
from services.tracking.uptake import LinkRefused, Uptake, review

BEFORE = """\
Điều 1. Phạm vi
1. Một.
2. Hai, gồm:
a) A;
b) B.
Điều 2. Hiệu lực
Từ ngày ký.
"""
AFTER = BEFORE.replace("a) A;", "a) A mới;").replace("Từ ngày ký.", "Từ ngày 01/01/2027.")


def _review(links: dict[tuple[str, int], list[str]]) -> Uptake:
    before, after = parse_text(BEFORE), parse_text(AFTER)
    dispositions = {
        ("c1", 1): Disposition.ACCEPTED,
        ("c1", 2): Disposition.PARTLY_ACCEPTED,
        ("c1", 3): Disposition.NOT_ACCEPTED,
        ("c2", 1): Disposition.ACCEPTED,
    }
    known = set(before.index()) | set(after.index())
    return review(dispositions, links, diff(before, after), known)


def test_points_taken_in_without_a_change_and_changes_nobody_asked_for_are_flagged() -> None:
    uptake = _review({("c1", 1): ["dieu-1.khoan-2"], ("c1", 2): ["dieu-1.khoan-1"]})
    # c1/1 is linked to khoản 2, whose điểm a changed: taken in
    # c1/2 is linked to khoản 1, which did not change; c2/1 is linked to nothing
    assert uptake.accepted_unchanged == [("c1", 2), ("c2", 1)]
    assert uptake.unlinked_links == {("c1", 2): ["dieu-1.khoan-1"]}
    # Điều 2 changed with no point linked to it
    assert uptake.changed_unasked == ["dieu-2"]


def test_when_every_change_is_linked_nothing_is_flagged_but_the_unlinked_point() -> None:
    uptake = _review(
        {("c1", 1): ["dieu-1.khoan-2.diem-a"], ("c1", 2): ["dieu-2"], ("c2", 1): ["dieu-2"]}
    )
    assert uptake.accepted_unchanged == []
    assert uptake.unlinked_links == {}
    assert uptake.changed_unasked == []


def test_links_the_answers_or_texts_contradict_are_refused() -> None:
    with pytest.raises(LinkRefused, match="was not accepted"):
        _review({("c1", 3): ["dieu-2"]})
    with pytest.raises(LinkRefused, match="has no answer"):
        _review({("c9", 1): ["dieu-2"]})
    with pytest.raises(LinkRefused, match="neither version has dieu-7"):
        _review({("c1", 1): ["dieu-7"]})
