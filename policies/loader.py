"""Load a conduct policy from one YAML file or several layered ones, reporting every mistake with its
file, line, column and field path.

Several files are merged in order (see `policies.layering` for the precedence rules) and then
validated as one policy. At run time (`examples=False`, the default) the `examples:` section is
dropped before validation: examples only serve `tactful policy test` and never reach the engine.
"""

from __future__ import annotations

import difflib
import enum
import hashlib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from policies.issues import PolicyError, PolicyIssue, Severity
from policies.languages import suggest
from policies.layering import POSITION_KEYS, Layered, format_path, label, layer
from policies.reference import expected_hint
from policies.schema import Loc, Policy, Rule, semantic_issues

__all__ = [
    "LoadedPolicy",
    "PolicyError",
    "PolicyIssue",
    "PolicyLocator",
    "default_policy_path",
    "load_policies",
    "load_policy",
    "parse_policies",
    "parse_policy",
]

#: The top-level key holding examples for `tactful policy test`; ignored at run time.
EXAMPLES_KEY = "examples"


class PolicyLocator:
    """Maps a field path of the (merged) policy to the file, line, column and in-file path it came from."""

    def __init__(self, layered: Layered | None, default_file: str) -> None:
        self._layered = layered
        self._default_file = default_file

    def issue(
        self,
        loc: Loc,
        message: str,
        hint: str | None = None,
        on_key: bool = False,
        severity: Severity = "error",
    ) -> PolicyIssue:
        """Build an issue positioned at the deepest node of `loc` found in the document."""
        file, line, column, path = self.where(loc, on_key)
        return PolicyIssue(file, line, column, path, message, hint, severity)

    def where(self, loc: Loc, on_key: bool = False) -> tuple[str, int, int, str]:
        """Return (file, line, column, path in that file) of `loc`'s value node, or its key when `on_key`."""
        if self._layered is None:
            return self._default_file, 1, 1, format_path(loc)
        node: yaml.Node = self._layered.root
        marked = node
        depth = 0
        for depth_index, part in enumerate(loc):
            last = depth_index == len(loc) - 1
            if isinstance(node, yaml.MappingNode):
                match = next((pair for pair in node.value if _key_matches(pair[0], part)), None)
                if match is None:
                    break
                key, node = match
                marked = key if (last and on_key) else node
            elif (
                isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value)
            ):
                node = node.value[part]
                marked = node
            else:
                break
            depth = depth_index + 1
        origin = self._layered.origins.get(id(marked))
        file, base = (origin.file, origin.loc) if origin else (self._default_file, loc[:depth])
        mark = marked.start_mark
        return file, mark.line + 1, mark.column + 1, format_path((*base, *loc[depth:]))


@dataclass(frozen=True, slots=True)
class LoadedPolicy:
    """A validated policy with its version, the files it was read from, and where each value was written.

    The version is the first 12 hex digits of the sha256 of the file's bytes; for layered files,
    of the concatenated sha256 digests of every file, in order. `path` is the first file.
    """

    policy: Policy
    version: str
    path: Path
    paths: tuple[Path, ...] = ()
    locator: PolicyLocator = field(
        default_factory=lambda: PolicyLocator(None, "<policy>"), compare=False, repr=False
    )

    @property
    def source(self) -> str:
        """The file(s) the policy was read from, in order (`base.yaml + overrides.yaml`)."""
        return " + ".join(str(path) for path in (self.paths or (self.path,)))


def default_policy_path() -> Path:
    """Return the path of the shipped default policy (policies/default.yaml)."""
    return Path(__file__).with_name("default.yaml")


def load_policy(path: str | Path, *, examples: bool = False) -> LoadedPolicy:
    """Read, parse and validate a policy file; raise PolicyError listing every issue."""
    return load_policies([path], examples=examples)


def load_policies(paths: Sequence[str | Path], *, examples: bool = False) -> LoadedPolicy:
    """Read, layer (later files override earlier ones) and validate policy files; raise PolicyError.

    With `examples=True` the `examples:` section is validated and kept (for `tactful policy
    test` and `check`); otherwise it is dropped unread, as `tactful run` does.
    """
    sources: list[tuple[bytes, str | Path]] = []
    issues: list[PolicyIssue] = []
    for path in paths:
        try:
            sources.append((Path(path).read_bytes(), path))
        except OSError as exc:
            issues.append(PolicyIssue(str(path), 1, 1, "(file)", f"cannot read: {exc.strerror}"))
    if issues:
        raise PolicyError(issues, [str(path) for path in paths])
    return parse_policies(sources, examples=examples)


def parse_policy(data: bytes, path: str | Path = "<policy>", *, examples: bool = False) -> LoadedPolicy:
    """Validate policy bytes as if read from `path`; raise PolicyError listing every issue."""
    return parse_policies([(data, path)], examples=examples)


def parse_policies(sources: Sequence[tuple[bytes, str | Path]], *, examples: bool = False) -> LoadedPolicy:
    """Validate layered policy documents given as (bytes, path) in order; raise PolicyError listing every issue."""
    if not sources:
        raise PolicyError(
            [PolicyIssue("<policy>", 1, 1, "(file)", "no policy file given", "name one or more files")]
        )
    names = [str(path) for _data, path in sources]
    issues: list[PolicyIssue] = []
    roots: list[tuple[str, yaml.MappingNode]] = []
    for data, path in sources:
        try:
            roots.append((str(path), _parse_file(data, str(path))))
        except PolicyError as exc:
            issues.extend(exc.issues)
    if issues:
        raise PolicyError(issues, names)
    layered = layer(roots)
    if not examples:
        layered.root.value = [pair for pair in layered.root.value if label(pair[0]) != EXAMPLES_KEY]
    locator = PolicyLocator(layered, names[0])
    document = _construct(layered.root)
    try:
        policy = Policy.model_validate(document)
    except ValidationError as exc:
        errors = _without_knock_on(exc.errors())
        found = [_from_pydantic(locator, error) for error in errors]
        raise PolicyError([*layered.issues, *found], names) from None
    found = [locator.issue(item.loc, item.message, item.hint) for item in semantic_issues(policy)]
    if layered.issues or found:
        raise PolicyError([*layered.issues, *found], names)
    return LoadedPolicy(
        policy=policy,
        version=_version([data for data, _path in sources]),
        path=Path(sources[0][1]),
        paths=tuple(Path(path) for _data, path in sources),
        locator=locator,
    )


def _version(contents: Sequence[bytes]) -> str:
    """Return the policy version: sha256 of one file, or of the files' digests in order."""
    if len(contents) == 1:
        return hashlib.sha256(contents[0]).hexdigest()[:12]
    return hashlib.sha256(b"".join(hashlib.sha256(data).digest() for data in contents)).hexdigest()[:12]


def _parse_file(data: bytes, name: str) -> yaml.MappingNode:
    """Decode, parse and check one file: UTF-8, YAML syntax, safe tags, no repeated keys, a mapping."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        hint = "save the file as UTF-8"
        raise PolicyError([PolicyIssue(name, line, 1, "(file)", "not valid UTF-8", hint)]) from exc
    root = _compose(name, text)
    duplicates = list(_duplicate_keys(name, root, ()))
    if duplicates:
        raise PolicyError(duplicates)
    document = _construct(root, name) if root is not None else None
    if not isinstance(document, dict) or not isinstance(root, yaml.MappingNode):
        found = "an empty file" if document is None else type(document).__name__
        line, column = (root.start_mark.line + 1, root.start_mark.column + 1) if root is not None else (1, 1)
        message = f"a policy must be a YAML mapping, found {found}"
        hint = (
            "start from a copy of policies/default.yaml, as tactful init writes: version: 1, brand:, rules:"
        )
        raise PolicyError([PolicyIssue(name, line, column, "(top level)", message, hint)])
    return root


def _compose(name: str, text: str) -> yaml.Node | None:
    """Compose the node tree (it keeps every position) with the safe loader."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise PolicyError([_yaml_issue(name, exc)]) from None


def _construct(node: yaml.Node, name: str = "<policy>") -> Any:
    """Build plain data from a node tree with the safe constructor (no arbitrary tags)."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise PolicyError([_yaml_issue(name, exc)]) from None
    finally:
        loader.dispose()


#: Hints for YAML syntax errors, by a fragment of the parser's message.
_YAML_HINTS = (
    ("'\\t'", "indent with spaces: YAML does not allow tabs"),
    ("constructor for the tag", "tags such as !!python/... are not allowed: write plain values"),
    ("mapping values are not allowed", "quote text that contains ': ', or fix the indentation"),
    ("expected ',' or ']'", "close the [ list, or quote text that contains , [ ] { }"),
    ("expected ',' or '}'", "close the { mapping, or quote text that contains , [ ] { }"),
    ("expected a single document", "a policy file holds one document: remove the extra ---"),
    ("found undefined alias", "define the &anchor before using *alias"),
    ("quoted scalar", "close the quote"),
)


def _yaml_issue(name: str, exc: yaml.YAMLError) -> PolicyIssue:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        parts = [part for part in (exc.context, exc.problem) if part]
        message = "; ".join(parts) or str(exc)
    else:
        line, column, message = 1, 1, str(exc)
    hint = next(
        (text for fragment, text in _YAML_HINTS if fragment in message),
        "check the indentation, quotes and brackets on this line and the one before",
    )
    return PolicyIssue(name, line, column, "(yaml)", message, hint)


def _without_knock_on(errors: list[Any]) -> list[Any]:
    """Drop "too short" errors caused only by an invalid item inside the same list."""
    locs = [tuple(error["loc"]) for error in errors]
    return [
        error
        for error, loc in zip(errors, locs, strict=True)
        if error["type"] != "too_short" or not any(len(o) > len(loc) and o[: len(loc)] == loc for o in locs)
    ]


def _duplicate_keys(name: str, node: yaml.Node | None, loc: Loc) -> typing.Iterator[PolicyIssue]:
    """Report mapping keys given twice (YAML would silently keep the last one)."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            text = label(key)
            if text in seen:
                mark = key.start_mark
                path = format_path((*loc, text))
                yield PolicyIssue(
                    name,
                    mark.line + 1,
                    mark.column + 1,
                    path,
                    f"key '{text}' given twice",
                    "YAML would keep only the last one: merge them into one",
                )
            seen.add(text)
            yield from _duplicate_keys(name, value, (*loc, text))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(name, item, (*loc, index))


def _key_matches(key: yaml.Node, part: str | int) -> bool:
    """Whether a YAML key node is the mapping key named by `part` (YAML reads `no:` as False)."""
    if not isinstance(key, yaml.ScalarNode):
        return False
    if isinstance(part, bool):
        return key.tag == "tag:yaml.org,2002:bool" and yaml.safe_load(key.value) is part
    return key.value == str(part)


_BOOL_HINT = "quote it: YAML reads yes, no, on and off as true or false"


def _from_pydantic(locator: PolicyLocator, error: Any) -> PolicyIssue:
    """Turn one pydantic error into a positioned issue with a readable message and hint."""
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    message = str(error["msg"]).removeprefix("Value error, ")
    hint: str | None = None
    if kind == "extra_forbidden":
        key = str(loc[-1])
        owner = _type_at(loc[:-1])
        allowed = [*_model_fields(owner), *(POSITION_KEYS if owner is Rule else ())]
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean '{close[0]}'?" if close else "allowed keys: " + ", ".join(allowed)
        return locator.issue(loc, f"unknown key '{key}'", hint, on_key=True)
    if kind == "missing":
        expected = expected_hint(loc)
        return locator.issue(loc, f"missing required key '{loc[-1]}'", _missing_hint(loc, expected))
    if loc and loc[-1] == "[key]":
        key = error.get("input")
        loc = (*loc[:-2], key) if isinstance(key, str | int) else loc[:-1]
        if isinstance(key, bool):
            hint = _BOOL_HINT
        elif kind == "string_pattern_mismatch":
            hint = _pattern_hint(loc, key)
        else:
            hint = _enum_hint(_dict_key_type(_type_at(loc[:-1])), key)
        shown = f"the key YAML reads as {str(key).lower()}" if isinstance(key, bool) else f"key '{loc[-1]}'"
        return locator.issue(loc, f"invalid {shown}: {message}", hint, on_key=True)
    if kind == "value_error":
        hint = next((text for start, text in _VALUE_HINTS if message.startswith(start)), None)
    elif isinstance(error.get("input"), bool) and kind == "string_type":
        hint = _BOOL_HINT
    elif kind == "enum":
        hint = _enum_hint(_type_at(loc), error.get("input"))
    elif kind == "literal_error" and loc == ("version",):
        hint = "this tactful reads version 1 policies"
    elif kind == "string_pattern_mismatch":
        hint = _pattern_hint(loc, error.get("input"))
    elif kind == "literal_error":
        hint = _literal_hint(error)
    if hint is None:
        hint = expected_hint(loc)
    return locator.issue(loc, message, hint)


#: Hints for the schema's own cross-field checks, by the start of their message.
_VALUE_HINTS = (
    (
        "an action needs exactly one of",
        "write one action per list item: - acknowledge: ack, then - queue: {...}",
    ),
    ("expect needs at least one of", "e.g. expect: {category: complaint, rule: complaint}"),
)


def _missing_hint(loc: Loc, expected: str | None) -> str:
    if loc == ("rules",):
        return "add rules: with at least one rule (see policies/default.yaml)"
    return f"add {loc[-1]}: ({expected})" if expected else f"add {loc[-1]}:"


def _literal_hint(error: Any) -> str | None:
    expected = error.get("ctx", {}).get("expected", "")
    options = [
        part.strip(" '") for part in str(expected).replace(" or ", ", ").split(",") if part.strip(" '")
    ]
    close = difflib.get_close_matches(str(error.get("input")), options, n=1)
    return f"did you mean '{close[0]}'?" if close else None


def _pattern_hint(loc: Loc, value: Any = None) -> str | None:
    last = loc[-1] if loc else None
    if (
        last in ("default_language", "language_hint")
        or "language" in loc
        or (loc[:1] == ("templates",) and len(loc) == 3)
    ):
        close = suggest(str(value)) if value is not None else None
        if close:
            return f"did you mean '{close}'? Codes are lowercase ISO 639-1: en, es, zh"
        return "use a lowercase ISO 639-1 code such as en, es, zh"
    if last in ("id", "rule", "before", "after"):
        return "rule ids use lowercase letters, digits, - and _"
    if loc[:1] == ("templates",) or last in ("acknowledge", "template", "fallback"):
        return "template ids use lowercase letters, digits and _, starting with a letter"
    return None


def _enum_hint(enum_type: Any, value: Any) -> str | None:
    if not (isinstance(enum_type, type) and issubclass(enum_type, enum.Enum)):
        return None
    options = [str(member.value) for member in enum_type]
    close = difflib.get_close_matches(str(value), options, n=1)
    return f"did you mean '{close[0]}'?" if close else "one of: " + ", ".join(options)


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional from a type annotation."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [arg for arg in typing.get_args(tp) if arg is not type(None)]
            tp = options[0]
        else:
            return tp


def _type_at(loc: Loc) -> Any:
    """Return the schema type found at a field path, or None when the path leaves the schema."""
    tp: Any = Policy
    for part in loc:
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return None
            tp = field.annotation
        elif origin in (tuple, list):
            tp = typing.get_args(tp)[0]
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    return _unwrap(tp)


def _dict_key_type(tp: Any) -> Any:
    return typing.get_args(tp)[0] if typing.get_origin(tp) is dict else None


def _model_fields(tp: Any) -> list[str]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []
