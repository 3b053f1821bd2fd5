"""How the pages mark up texts for people: bilingual labels (Vietnamese first, the English marked
``lang="en"``), redaction notes set apart from the author's words, dates in Vietnam time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from markupsafe import Markup, escape

from contracts.vocabulary import REDACTION_PLACEHOLDER, VIETNAM, Label, label_of

# Page texts of their own for people: (Vietnamese, English). The vocabulary's labels (kinds,
# levels, statuses, ...) come from contracts.vocabulary.
Bilingual = tuple[str, str]

_SEPARATOR = " / "


def bi(vi: str, en: str) -> Markup:
    """A bilingual label: Vietnamese, then the English marked as such. The slash is only seen,
    so that a screen reader switches language instead of reading it."""
    return Markup(
        '{}<span class="en"><span aria-hidden="true"> / </span><span lang="en">{}</span></span>'
    ).format(vi, en)


def bi_block(vi: str, en: str) -> Markup:
    """A bilingual sentence or paragraph: the English on a line of its own."""
    return Markup(
        '<span class="vi">{}</span> <span class="en en-block" lang="en">{}</span>'
    ).format(vi, en)


def bilingual(text: str | None, block: bool = False) -> Markup:
    """A text the services wrote as "Vietnamese / English", marked up like :func:`bi` (or
    :func:`bi_block`); any other text is only escaped."""
    if not text:
        return Markup("")
    if text.count(_SEPARATOR) == 1:
        vi, en = text.split(_SEPARATOR)
        return bi_block(vi, en) if block else bi(vi, en)
    return escape(text)


_PLACEHOLDERS = [str(escape(placeholder)) for placeholder in REDACTION_PLACEHOLDER.values()]


def redacted(text: str | None) -> Markup:
    """A published text, escaped, with each redaction note set apart so that a reader sees
    it is not the author's words."""
    html = str(escape(text or ""))
    for placeholder in _PLACEHOLDERS:
        html = html.replace(placeholder, f'<span class="redacted">{placeholder}</span>')
    return Markup(html)  # noqa: S704 - escaped above; only our own notes are wrapped


def label(labels: Mapping[Any, Label], key: str | None) -> Markup:
    """A vocabulary label (contracts.vocabulary) of a wire value, marked up like :func:`bi`."""
    if key is None:
        return Markup("")
    found = label_of(labels, key)
    return bi(found.vi, found.en) if found.vi != found.en else escape(found.vi)


def _local(value: date | datetime) -> date | datetime:
    return value.astimezone(VIETNAM) if isinstance(value, datetime) else value


def vn_date(value: date | datetime | None) -> str:
    """dd/mm/yyyy, Vietnam time."""
    return "" if value is None else f"{_local(value):%d/%m/%Y}"


def vn_datetime(value: datetime | None) -> str:
    """dd/mm/yyyy hh:mm, Vietnam time."""
    return "" if value is None else f"{value.astimezone(VIETNAM):%d/%m/%Y %H:%M}"


def machine(value: date | datetime | None) -> str:
    """The ``datetime`` attribute of ``<time>``: ISO 8601, with the Vietnam offset."""
    if value is None:
        return ""
    local = _local(value)
    return local.isoformat(timespec="minutes") if isinstance(local, datetime) else local.isoformat()
