"""docs/policy.md documents every key: its reference section is generated from the schema models."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from policies.reference import SECTIONS, committed_reference, expected_hint, reference_markdown
from policies.schema import Policy

DOC = Path(__file__).parent.parent / "docs" / "policy.md"


def test_the_committed_reference_equals_the_generated_one() -> None:
    assert committed_reference(DOC.read_text(encoding="utf-8")) == reference_markdown(), (
        "docs/policy.md is stale: run python -m policies.reference --write docs/policy.md"
    )


def test_every_field_of_every_model_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    models = {model for _where, model in SECTIONS}
    assert _models_in(Policy) == models  # no model of the schema is left out of the reference
    for model in models:
        for name, field in model.model_fields.items():
            assert f"| `{name}` |" in text, f"{model.__name__}.{name}"
            assert field.description, f"{model.__name__}.{name} has no description"


def test_the_guide_covers_layering_examples_and_the_commands() -> None:
    text = DOC.read_text(encoding="utf-8")
    for needle in (
        "## Layering",
        "before: complaint",
        "## Examples and `tactful policy test`",
        "## Checking: `tactful policy check`",
        "--strict",
        "unreachable",
    ):
        assert needle in text, needle


def test_hints_say_what_a_field_expects() -> None:
    assert expected_hint(("rules", 0, "then", 0, "queue", "priority")) == "expected whole number 0..100"
    assert expected_hint(("safety", "one_ack_per_thread")) == "expected true or false"
    assert expected_hint(("rules", 0, "when", "min_heat")) == "expected number 0..1"
    assert expected_hint(("brand",)) is None  # a mapping: its own keys say more
    assert expected_hint(("nope",)) is None


def _models_in(annotation: Any, found: set[type[BaseModel]] | None = None) -> set[type[BaseModel]]:
    """Every pydantic model reachable from an annotation."""
    found = set() if found is None else found
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation not in found:
        found.add(annotation)
        for field in annotation.model_fields.values():
            _models_in(field.annotation, found)
    for arg in typing.get_args(annotation):
        _models_in(arg, found)
    return found
