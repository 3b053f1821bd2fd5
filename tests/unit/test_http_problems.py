from __future__ import annotations

import pytest

from contracts.problems import field_path
from contracts.submission_api import PointIn
from contracts.text import nfc
from services.submission.domain import repeated_point_numbers


@pytest.mark.parametrize(
    ("location", "path"),
    [
        (("body", "points", 2, "text"), "points[2].text"),
        (("body", "title"), "title"),
        (("body",), "body"),
        (("query", "cursor"), "cursor"),
    ],
)
def test_field_paths_name_the_offending_field(location: tuple[int | str, ...], path: str) -> None:
    assert field_path(location) == path


def test_vietnamese_text_is_stored_in_nfc() -> None:
    decomposed = "quy hoa\u0323ch"  # "hoạch" written with a combining dot below
    assert nfc(decomposed) == "quy hoạch"
    assert len(nfc(decomposed)) == len("quy hoạch")


def test_repeated_point_numbers_are_found() -> None:
    points = [PointIn(number=n, text="x") for n in (1, 2, 2, 3, 3, 3)]
    assert repeated_point_numbers(points) == [2, 3]
