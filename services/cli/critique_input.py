"""Where ``supervision critique`` gets a critique: a YAML or JSON file, or the officer's answers to
prompts. Content is checked against the API's own models before anything is sent."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TypeVar

import typer
import yaml
from pydantic import BaseModel, ValidationError

from contracts.events import CritiqueKind
from contracts.problems import FieldViolation
from contracts.submission_api import AgencyOut
from contracts.vocabulary import KIND
from services.cli import critique_views as views
from services.cli.critique_views import err, fail, out

M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: Any, source: str) -> M:
    """The model, or exit 1 naming each offending field as the API would."""
    try:
        return model.model_validate(data)
    except ValidationError as invalid:
        violations = [
            FieldViolation(
                field="".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"]).lstrip(
                    "."
                )
                or "(document)",
                message=e["msg"],
            )
            for e in invalid.errors()
        ]
        views.print_violations(err, f"{source} is not a valid critique", None, violations)
        raise typer.Exit(1) from None


def read_document(source: str) -> dict[str, Any]:
    """A YAML or JSON mapping, from a file or (``-``) stdin."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as unreadable:
        raise fail(f"cannot read {source}: {unreadable}", 2) from None
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as malformed:
            raise fail(f"{source} is neither YAML nor JSON: {malformed}", 2) from None
    if not isinstance(data, dict):
        raise fail(f"{source} must hold a mapping of the critique's fields", 2)
    return data


def _choose(options: list[str], label: str) -> Any:
    def choose(answer: str) -> str:
        answer = answer.strip()
        if answer.isdigit() and 1 <= int(answer) <= len(options):
            return options[int(answer) - 1]
        if answer in options:
            return answer
        # typer's prompt shows this and asks again.
        raise typer.BadParameter(f"give a number from the list or one of the {label}")

    return choose


def _optional(prompt: str) -> str | None:
    return typer.prompt(prompt, default="", show_default=False).strip() or None


def prompt_critique(agencies: list[AgencyOut]) -> dict[str, Any]:
    """The critique's fields, asked one by one (from stdin, so it can be scripted too)."""
    if not agencies:
        raise fail("submission knows no agencies yet: ask the administrator to add them")
    out.print(views.agencies_table(agencies, numbered=True))
    agency_id = typer.prompt(
        "Agency (cơ quan): number or id", value_proc=_choose([a.id for a in agencies], "ids")
    )
    kinds = list(CritiqueKind)
    for number, kind in enumerate(kinds, start=1):
        out.print(f"  {number}. {kind.value}: {KIND[kind]}", highlight=False)
    kind = typer.prompt(
        "Kind (loại): number or name", value_proc=_choose([k.value for k in kinds], "kinds")
    )
    data: dict[str, Any] = {"agency_id": agency_id, "kind": kind, "points": []}
    data["title"] = typer.prompt("Title (tiêu đề)")
    if kind == CritiqueKind.SOCIAL_CRITICISM:
        draft_id = _optional(
            "Registered draft's id (mã dự thảo), from its drafting agency; empty if none"
        )
        if draft_id is not None:
            version = typer.prompt("Its version (phiên bản)", type=int)
            data["draft_version"] = {"draft_id": draft_id, "version": version}
    while True:
        number = len(data["points"]) + 1
        text = _optional(f"Point {number} (điểm), an empty line when done")
        if text is None and data["points"]:
            break
        if text is None:
            err.print("[yellow]A critique needs at least one point.[/yellow]")
            continue
        if "draft_version" in data:
            cites = _optional(
                f"  Parts point {number} cites, e.g. 'dieu-5.khoan-2, dieu-6' (optional)"
            )
            ids = [part.strip() for part in (cites or "").split(",") if part.strip()]
            data["points"].append({"number": number, "text": text, "cites": ids})
            continue
        citation = _optional(f"  Citation of point {number}, e.g. 'Điều 5, khoản 2' (optional)")
        data["points"].append({"number": number, "text": text, "citation": citation})
    if kind == CritiqueKind.SOCIAL_CRITICISM and "draft_version" not in data:
        data["draft"] = {
            "title": typer.prompt("Draft's title (tên dự thảo)"),
            "drafting_agency": typer.prompt("Drafting agency (cơ quan chủ trì soạn thảo)"),
            # The API needs a version or a link to know which draft was criticised.
            "version": typer.prompt("Draft's version, e.g. 'Dự thảo lần 3'"),
        }
    data["legal_basis"] = _optional("Legal basis (căn cứ pháp lý), optional")
    return data
