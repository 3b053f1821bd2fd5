"""How long something took or lasts, in the words every service and `supervision ops` print."""

from __future__ import annotations


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
