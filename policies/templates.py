"""Reply templates: checking template text, neutralising user values, choosing and rendering a variant."""

from __future__ import annotations

import difflib
import functools
import hashlib
import re
import string
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tactful.domain import Author
from tactful.text_identity import text_hash

#: The only variables a template may use, and what they become.
TEMPLATE_VARIABLES: dict[str, str] = {
    "first_name": "first word of the author's display name, else their username",
    "name": "the author's display name, else their username",
    "username": "the author's username, without @",
    "brand": "the brand's name",
    "dm_link": "a link that opens a private conversation with the brand",
    "reply_by": "when a person will answer, in words, from business hours and the SLA (by 9:00 tomorrow)",
    "reply_by_time": "the time a person will answer by, in the business hours' timezone (9:00)",
}

#: Variables that promise a reply time; a text using one is stored as a promise and tracked.
PROMISE_VARIABLES = frozenset({"reply_by", "reply_by_time"})

#: Longest text a user-provided value may contribute to a reply.
MAX_USER_VALUE_CHARS = 40

_FORMATTER = string.Formatter()
_MARKUP_CHARS = re.compile(r"[@#{}<>\[\]`*\\|]")
_LINK_LIKE = re.compile(r"(://|^www\.|[a-z0-9-]\.[a-z]{2,}(/|$))", re.IGNORECASE)
_NAME_WORD = re.compile(r"^[^\W\d_]+(?:['\u2019.-][^\W\d_]+)*\.?$")
_TRIM = " .,;:!?-'\"()"


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """One thing wrong with a template variant's text, with an optional hint."""

    message: str
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class Rendered:
    """A template variant rendered for one person."""

    template_id: str
    language: str
    variant: int
    text: str


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why no variant of a template could be sent; the engine queues the message instead."""

    reason: str


def template_problems(text: str) -> list[TemplateProblem]:
    """Return what is wrong with one variant's text: bad braces or fields other than plain variables."""
    return list(_template_problems(text))


@functools.lru_cache(maxsize=4096)
def _template_problems(text: str) -> tuple[TemplateProblem, ...]:
    return tuple(_find_template_problems(text))


def _find_template_problems(text: str) -> list[TemplateProblem]:
    try:
        parsed = list(_FORMATTER.parse(text))
    except ValueError as exc:
        return [TemplateProblem(f"malformed braces: {exc}", "write a literal brace as {{ or }}")]
    problems: list[TemplateProblem] = []
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field == "" or field.isdigit():
            problems.append(TemplateProblem("positional field {} is not allowed", _variables_hint()))
        elif "." in field or "[" in field:
            problems.append(
                TemplateProblem(f"attribute or index access '{{{field}}}' is not allowed", _variables_hint())
            )
        elif field not in TEMPLATE_VARIABLES:
            close = difflib.get_close_matches(field, list(TEMPLATE_VARIABLES), n=1)
            hint = f"did you mean {{{close[0]}}}?" if close else _variables_hint()
            problems.append(TemplateProblem(f"unknown variable '{{{field}}}'", hint))
        elif conversion or spec:
            problems.append(
                TemplateProblem(
                    f"conversions and format specs are not allowed in '{{{field}}}'", f"{{{field}}}"
                )
            )
    return problems


@functools.lru_cache(maxsize=4096)
def template_fields(text: str) -> frozenset[str]:
    """Return the variable names a (valid) variant uses."""
    return frozenset(field for _lit, field, _spec, _conv in _FORMATTER.parse(text) if field)


_ASCII_CONTROLS_TO_SPACE = {code: " " for code in (*range(0x20), 0x7F)}


@functools.lru_cache(maxsize=8192)
def clean_user_value(raw: str | None, limit: int = MAX_USER_VALUE_CHARS) -> str:
    """Neutralise an untrusted name: no mentions, hashtags, markup, links or control characters; capped."""
    if not raw:
        return ""
    if raw.isascii():  # the common case: only C0 controls and DEL are in categories C and Z besides space
        spaced = raw.translate(_ASCII_CONTROLS_TO_SPACE)
    else:
        spaced = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in raw)
    unmarked = _MARKUP_CHARS.sub("", spaced)
    words = [word for word in unmarked.split() if not _LINK_LIKE.search(word)]
    text = " ".join(words).strip(_TRIM)
    if len(text) > limit:
        text = text[:limit].rstrip(_TRIM)
    return text


def name_words(display_name: str | None) -> list[str]:
    """Return the name-like words of a display name (letters with inner ' - .), dropping the rest."""
    return list(_name_words(display_name))


@functools.lru_cache(maxsize=8192)
def _name_words(display_name: str | None) -> tuple[str, ...]:
    return tuple(word for word in clean_user_value(display_name).split() if _NAME_WORD.match(word))


def template_values(
    author: Author, brand: str, dm_link: str | None, reply_by: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Return the safe mapping of exactly the documented variables for one author.

    `reply_by` holds the promised reply time's words (`policies.reply_by.reply_by_values`).
    """
    words = _name_words(author.display_name)
    username = clean_user_value(author.username)
    reply = reply_by or {}
    return {
        "first_name": words[0] if words else username,
        "name": " ".join(words) or username,
        "username": username,
        "brand": brand.strip(),
        "dm_link": (dm_link or "").strip(),
        "reply_by": reply.get("reply_by", ""),
        "reply_by_time": reply.get("reply_by_time", ""),
    }


def pick_language(
    available: Mapping[str, Sequence[str]], language: str, default_language: str, fallback: bool
) -> str | None:
    """Return the language to reply in: the message's own if templated, else the default if allowed."""
    wanted = (language or "").strip().lower().replace("_", "-")
    for candidate in (wanted, wanted.split("-", 1)[0]):
        if candidate and available.get(candidate):
            return candidate
    if fallback and available.get(default_language):
        return default_language
    return None


def stable_index(seed: str, count: int) -> int:
    """Return a deterministic index in range(count) derived from seed (same seed, same index)."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def render(
    template_id: str,
    variants_by_language: Mapping[str, Sequence[str]] | None,
    *,
    language: str,
    default_language: str,
    fallback_to_default: bool,
    seed: str,
    avoid: tuple[str, int] | None,
    values: Mapping[str, str],
    worn: frozenset[str] = frozenset(),
) -> Rendered | Refusal:
    """Render one variant of a template, or say why none can be sent.

    The variant is chosen deterministically from `seed` among the variants whose variables
    all have values, skipping the one `avoid` names so a person never gets the same text
    twice in a row, and those whose filled-in text is `worn` (its `text_hash` is in it: sent
    as often as the identical-text check allows); when every usable text is worn, none is sent.
    """
    if not variants_by_language:
        return Refusal(f"template {template_id} is not defined")
    lang = pick_language(variants_by_language, language, default_language, fallback_to_default)
    if lang is None:
        shown = language or "unknown"
        return Refusal(f"no {shown} variants of {template_id}; a person should reply in {shown}")
    variants = variants_by_language[lang]
    usable: list[int] = []
    missing: set[str] = set()
    for index, fields in _valid_variant_fields(tuple(variants)):
        empty = {field for field in fields if not values.get(field)}
        if empty:
            missing |= empty
            continue
        usable.append(index)
    if avoid is not None and avoid[0] == template_id and len(usable) > 1:
        usable = [index for index in usable if index != avoid[1]]
    elif avoid is not None and avoid[0] == template_id and usable == [avoid[1]]:
        return Refusal(f"the only usable {lang} variant of {template_id} was the last text this person got")
    if not usable:
        needed = ", ".join(sorted(missing)) or "valid text"
        return Refusal(f"no {lang} variant of {template_id} can be filled (missing {needed})")
    safe = {name: values.get(name, "") for name in TEMPLATE_VARIABLES}
    if worn:
        usable = [index for index in usable if text_hash(variants[index].format_map(safe)) not in worn]
        if not usable:
            return Refusal(
                f"every usable {lang} variant of {template_id} already went out as often as the "
                "identical-text check allows; a person should reply"
            )
    index = usable[stable_index(f"{template_id}\x00{seed}", len(usable))]
    return Rendered(template_id, lang, index, variants[index].format_map(safe))


@functools.lru_cache(maxsize=1024)
def _valid_variant_fields(variants: tuple[str, ...]) -> tuple[tuple[int, frozenset[str]], ...]:
    """Return (index, variables used) of each variant whose text is a valid template."""
    return tuple(
        (index, template_fields(text)) for index, text in enumerate(variants) if not _template_problems(text)
    )


def _variables_hint() -> str:
    return "allowed variables: " + ", ".join("{" + name + "}" for name in TEMPLATE_VARIABLES)
