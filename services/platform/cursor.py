"""Opaque cursors for keyset pagination on (timestamp, id), newest first."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime


class BadCursor(ValueError):
    """Not a cursor this service gave."""


def encode(at: datetime, item_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{item_id}".encode()).decode()


def decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        at, _, item_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(at), uuid.UUID(item_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise BadCursor(cursor) from error
