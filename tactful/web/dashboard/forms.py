"""Reading posted forms: URL-encoded bodies only, bounded in size and field count."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from fastapi import Request

MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 50


class FormTooLarge(Exception):
    """The posted body is larger than MAX_FORM_BYTES."""


class BadForm(Exception):
    """The body is not a URL-encoded form."""


@dataclass(frozen=True, slots=True)
class Form:
    """A posted form: the last value of each field, and every value of repeated fields."""

    fields: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        """The field's last value, or `default`."""
        values = self.fields.get(name)
        return values[-1] if values else default

    def getall(self, name: str) -> list[str]:
        """Every value of a repeated field."""
        return list(self.fields.get(name, []))


async def read_form(request: Request) -> Form:
    """Read a URL-encoded form body (at most MAX_FORM_BYTES and MAX_FIELDS fields)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("application/x-www-form-urlencoded", ""):
        raise BadForm(f"expected a URL-encoded form, got {kind}")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
        raise FormTooLarge()
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLarge()
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadForm(str(exc)) from exc
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        fields.setdefault(name, []).append(value)
    return Form(fields)
