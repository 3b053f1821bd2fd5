"""How long something took or lasts, in the words every service and `supervision ops` print,
and as operators write it (``--expires-in 90d``)."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)\s*([wdhms])")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def spoken(seconds: float) -> str:
    """``45s``, ``3m 07s``, ``5h 02m``, ``7d 0h``: the two largest units, whole."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d {whole % 86400 // 3600}h"


def parsed(text: str) -> timedelta:
    """What an operator writes for a duration: ``90d``, ``12h``, ``2w``, ``7d 12h`` (weeks,
    days, hours, minutes, seconds); a ValueError for anything else, or for nothing at all."""
    cleaned = text.strip().lower()
    parts = _PART.findall(cleaned)
    if not parts or _PART.sub("", cleaned).strip():
        raise ValueError(f"{text!r} is not a duration such as 90d, 12h or 7d 12h")
    try:
        duration = sum(
            (timedelta(**{_UNITS[unit]: int(number)}) for number, unit in parts), timedelta()
        )
    except OverflowError:
        raise ValueError(f"{text!r} is longer than any date can reach") from None
    if not duration:
        raise ValueError(f"{text!r} is no time at all")
    return duration
