"""How text is stored, compared and searched: one Unicode form for every service and client."""

from __future__ import annotations

import unicodedata


def nfc(text: str) -> str:
    """Unicode NFC without surrounding blanks: the same Vietnamese word ("quy hoạch", typed with
    combining marks or precomposed ones) is then stored, compared and searched as one form."""
    return unicodedata.normalize("NFC", text).strip()


def clean_text(value: object) -> object:
    """:func:`nfc` for a pydantic ``BeforeValidator``: runs before any length check, and leaves
    what is not a string for the type check to refuse."""
    return nfc(value) if isinstance(value, str) else value
