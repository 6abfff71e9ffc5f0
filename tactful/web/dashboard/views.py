"""Rendering: the Jinja2 environment (autoescape on for every template), filters and HTML responses."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


def age(moment: datetime | None, now: datetime) -> str:
    """How long ago `moment` was, briefly (``45 s``, ``12 min``, ``3 h``, ``2 d``)."""
    if moment is None:
        return "-"
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return "in " + age(now, moment)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def utc(moment: datetime | None) -> str:
    """A timestamp as ``2026-01-05 09:00:00 UTC``."""
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def first_line(text: str | None, width: int = 120) -> str:
    """The first non-blank line of a text, shortened to `width` characters."""
    line = next((part.strip() for part in (text or "").splitlines() if part.strip()), "")
    return line if len(line) <= width else line[: width - 1] + "…"


def score(value: float | None) -> str:
    """A 0..1 score with two decimals."""
    return "-" if value is None else f"{value:.2f}"


def make_environment() -> Environment:
    """The template environment: every template is escaped (all of them are HTML), undefined names fail."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(utc=utc, first_line=first_line, score=score)
    env.globals.update(age=age)
    return env


class Views:
    """Renders templates into HTML responses."""

    def __init__(self) -> None:
        self.env = make_environment()

    def render(
        self, template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
    ) -> HTMLResponse:
        """Render a template with `context` into a response."""
        html = self.env.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status, headers=headers)
