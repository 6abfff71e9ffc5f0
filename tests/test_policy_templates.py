"""Template tests: checking variant text, neutralising user values, choosing a variant and language."""

from __future__ import annotations

import pytest

from policies.templates import (
    MAX_USER_VALUE_CHARS,
    Refusal,
    Rendered,
    clean_user_value,
    pick_language,
    render,
    template_problems,
    template_values,
)
from tactful.domain import Author, Platform
from tactful.text_identity import text_hash

VALUES = {"first_name": "Jane", "name": "Jane Doe", "username": "jane", "brand": "Acme", "dm_link": ""}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Hi {name.__class__}", "attribute or index access"),
        ("Hi {name[0]}", "attribute or index access"),
        ("Hi {}", "positional"),
        ("Hi {0}", "positional"),
        ("Hi {nmae}", "unknown variable '{nmae}'"),
        ("Hi {name!r}", "conversions and format specs"),
        ("Hi {name:>99}", "conversions and format specs"),
        ("Hi {name", "malformed braces"),
        ("Hi name}", "malformed braces"),
    ],
)
def test_bad_template_text_is_rejected(text: str, fragment: str) -> None:
    problems = template_problems(text)
    assert len(problems) == 1
    assert fragment in problems[0].message


def test_good_template_text_passes() -> None:
    assert template_problems("Hi {first_name} from {brand}, {{literal}} {dm_link} {name} {username}") == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("@everyone", "everyone"),
        ("#boycott Jane", "boycott Jane"),
        ("Jane\n\n  Doe\t", "Jane Doe"),
        ("Jane\u202eeoD", "Jane eoD"),
        ("Bob\x00\x1bSmith\x7f", "Bob Smith"),
        ("Zoë\u2028Ng\x07", "Zoë Ng"),
        ("{brand} <b>x</b>", "brand bx/b"),
        ("visit https://evil.example now", "visit now"),
        ("see evil.com", "see"),
        ("", ""),
        (None, ""),
    ],
)
def test_clean_user_value(raw: str | None, expected: str) -> None:
    assert clean_user_value(raw) == expected


def test_clean_user_value_caps_length() -> None:
    cleaned = clean_user_value("A" * 500)
    assert len(cleaned) == MAX_USER_VALUE_CHARS


def test_template_values_prefer_display_name_words() -> None:
    author = Author(Platform.X, "1", username="@jane_doe", display_name="  Jane-Marie O'Neil 🌸 ")
    values = template_values(author, "Acme", "https://t.me/acme?start=1")
    assert values == {
        "first_name": "Jane-Marie",
        "name": "Jane-Marie O'Neil",
        "username": "jane_doe",
        "brand": "Acme",
        "dm_link": "https://t.me/acme?start=1",
        "reply_by": "",
        "reply_by_time": "",
    }


def test_template_values_fall_back_to_username() -> None:
    author = Author(Platform.X, "1", username="jd_42", display_name="{name.__class__} 1234")
    values = template_values(author, "Acme", None)
    assert (values["first_name"], values["name"], values["dm_link"]) == ("jd_42", "jd_42", "")


def test_pick_language() -> None:
    available = {"en": ["a"], "pl": ["b"], "pt-br": ["c"]}
    assert pick_language(available, "PL", "en", fallback=False) == "pl"
    assert pick_language(available, "pt_BR", "en", fallback=False) == "pt-br"
    assert pick_language(available, "pl-PL", "en", fallback=False) == "pl"
    assert pick_language(available, "it", "en", fallback=False) is None
    assert pick_language(available, "it", "en", fallback=True) == "en"
    assert pick_language(available, "", "en", fallback=False) is None


def _render(variants: dict[str, list[str]] | None, **kwargs: object) -> Rendered | Refusal:
    options: dict[str, object] = {
        "language": "en",
        "default_language": "en",
        "fallback_to_default": False,
        "seed": "m1",
        "avoid": None,
        "values": VALUES,
    }
    options.update(kwargs)
    return render("ack", variants, **options)  # type: ignore[arg-type]


def test_render_avoids_last_variant_for_every_seed() -> None:
    variants = {"en": ["One {first_name}", "Two {first_name}", "Three {first_name}"]}
    chosen = set()
    for number in range(30):
        first = _render(variants, seed=f"s{number}")
        assert isinstance(first, Rendered)
        chosen.add(first.variant)
        second = _render(variants, seed=f"s{number}", avoid=("ack", first.variant))
        assert isinstance(second, Rendered) and second.variant != first.variant
        assert _render(variants, seed=f"s{number}", avoid=("other", first.variant)) == first
    assert chosen == {0, 1, 2}


def test_render_prefers_variants_whose_text_is_not_worn_out() -> None:
    variants = {"en": ["One {first_name}", "Two {first_name}", "Three {first_name}"]}
    for number in range(20):
        first = _render(variants, seed=f"s{number}")
        assert isinstance(first, Rendered)
        # The filled-in text is what wears out: "One Dana" is worn, "One" for another name is not.
        worn = frozenset({text_hash(first.text.upper())})  # compared casefolded
        second = _render(variants, seed=f"s{number}", worn=worn)
        assert isinstance(second, Rendered) and second.variant != first.variant
        other_name = _render(variants, seed=f"s{number}", worn=worn, values={**VALUES, "first_name": "Kim"})
        assert isinstance(other_name, Rendered) and other_name.variant == first.variant
    every = frozenset(text_hash(text.format(first_name=VALUES["first_name"])) for text in variants["en"])
    refused = _render(variants, worn=every)
    assert isinstance(refused, Refusal) and "identical-text" in refused.reason


def test_render_skips_variants_whose_variables_are_empty() -> None:
    variants = {"en": ["Hi {first_name}", "Hello there", "Write to {dm_link}"]}
    for number in range(10):
        result = _render(variants, seed=f"s{number}", values={**VALUES, "first_name": ""})
        assert result == Rendered("ack", "en", 1, "Hello there")
    refused = _render({"en": ["Write to {dm_link}"]})
    assert isinstance(refused, Refusal) and "missing dm_link" in refused.reason


def test_render_refuses_untranslated_language_without_fallback() -> None:
    refused = _render({"en": ["Hi"]}, language="ro")
    assert isinstance(refused, Refusal) and "no ro variants" in refused.reason
    assert _render({"en": ["Hi"]}, language="ro", fallback_to_default=True) == Rendered("ack", "en", 0, "Hi")


def test_render_never_evaluates_a_bad_variant() -> None:
    refused = _render({"en": ["{name.__class__.__mro__}"]})
    assert isinstance(refused, Refusal)
    assert _render(None) == Refusal("template ack is not defined")


def test_user_values_are_inserted_literally() -> None:
    result = _render({"en": ["Hi {name}"]}, values={**VALUES, "name": "{brand}"})
    assert result == Rendered("ack", "en", 0, "Hi {brand}")
