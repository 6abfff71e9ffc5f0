"""Load a conduct policy YAML file, reporting every mistake with its file, line, column and field path."""

from __future__ import annotations

import difflib
import enum
import hashlib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from policies.schema import Loc, Policy, semantic_issues
from tactful.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class PolicyIssue:
    """One mistake in a policy file; lines and columns are 1-based."""

    file: str
    line: int
    column: int
    field_path: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        """Format as `file:line:col: field.path: message (hint)`."""
        text = f"{self.file}:{self.line}:{self.column}: {self.field_path}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class PolicyError(ConfigurationError):
    """A policy file is invalid; `issues` lists every problem found, in file order."""

    def __init__(self, issues: list[PolicyIssue]) -> None:
        self.issues = sorted(issues, key=lambda issue: (issue.line, issue.column))
        super().__init__("\n".join(str(issue) for issue in self.issues))


@dataclass(frozen=True, slots=True)
class LoadedPolicy:
    """A validated policy with its version (first 12 hex digits of the file's sha256) and source."""

    policy: Policy
    version: str
    path: Path


def default_policy_path() -> Path:
    """Return the path of the shipped default policy (policies/default.yaml)."""
    return Path(__file__).with_name("default.yaml")


def load_policy(path: str | Path) -> LoadedPolicy:
    """Read, parse and validate a policy file; raise PolicyError listing every issue."""
    source = Path(path)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise PolicyError([PolicyIssue(str(source), 1, 1, "(file)", f"cannot read: {exc.strerror}")]) from exc
    return parse_policy(data, source)


def parse_policy(data: bytes, path: str | Path = "<policy>") -> LoadedPolicy:
    """Validate policy bytes as if read from `path`; raise PolicyError listing every issue."""
    source = Path(path)
    name = str(path)
    version = hashlib.sha256(data).hexdigest()[:12]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PolicyError([PolicyIssue(name, line, 1, "(file)", "not valid UTF-8")]) from exc
    root, document = _parse_yaml(name, text)
    locator = _Locator(name, root)
    duplicates = list(_duplicate_keys(name, root, ()))
    if duplicates:
        raise PolicyError(duplicates)
    if not isinstance(document, dict):
        found = "an empty file" if document is None else type(document).__name__
        raise PolicyError([locator.issue((), f"a policy must be a YAML mapping, found {found}")])
    try:
        policy = Policy.model_validate(document)
    except ValidationError as exc:
        errors = _without_knock_on(exc.errors())
        raise PolicyError([_from_pydantic(locator, error) for error in errors]) from None
    issues = [locator.issue(item.loc, item.message, item.hint) for item in semantic_issues(policy)]
    if issues:
        raise PolicyError(issues)
    return LoadedPolicy(policy=policy, version=version, path=source)


def _without_knock_on(errors: list[Any]) -> list[Any]:
    """Drop "too short" errors caused only by an invalid item inside the same list."""
    locs = [tuple(error["loc"]) for error in errors]
    return [
        error
        for error, loc in zip(errors, locs, strict=True)
        if error["type"] != "too_short" or not any(len(o) > len(loc) and o[: len(loc)] == loc for o in locs)
    ]


def _parse_yaml(name: str, text: str) -> tuple[yaml.Node | None, Any]:
    """Compose the node tree (for positions) and the plain data, with safe loaders only."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        parts = [part for part in (exc.context, exc.problem) if part]
        raise PolicyError([PolicyIssue(name, line, column, "(yaml)", "; ".join(parts) or str(exc))]) from None
    except yaml.YAMLError as exc:
        raise PolicyError([PolicyIssue(name, 1, 1, "(yaml)", str(exc))]) from None
    return root, document


def _duplicate_keys(name: str, node: yaml.Node | None, loc: Loc) -> typing.Iterator[PolicyIssue]:
    """Report mapping keys given twice (YAML would silently keep the last one)."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            label = key.value if isinstance(key, yaml.ScalarNode) else str(key.start_mark)
            if label in seen:
                mark = key.start_mark
                path = _format_path((*loc, label))
                yield PolicyIssue(name, mark.line + 1, mark.column + 1, path, f"key '{label}' given twice")
            seen.add(label)
            yield from _duplicate_keys(name, value, (*loc, label))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(name, item, (*loc, index))


class _Locator:
    """Maps a field path to the line and column of the YAML node it came from."""

    def __init__(self, name: str, root: yaml.Node | None) -> None:
        self.name = name
        self.root = root

    def issue(self, loc: Loc, message: str, hint: str | None = None, on_key: bool = False) -> PolicyIssue:
        """Build an issue positioned at the deepest node of `loc` found in the document."""
        line, column = self.position(loc, on_key)
        return PolicyIssue(self.name, line, column, _format_path(loc), message, hint)

    def position(self, loc: Loc, on_key: bool = False) -> tuple[int, int]:
        """Return the 1-based (line, column) of `loc`'s value node, or its key node when `on_key`."""
        node = self.root
        if node is None:
            return 1, 1
        mark = node.start_mark
        for depth, part in enumerate(loc):
            last = depth == len(loc) - 1
            if isinstance(node, yaml.MappingNode):
                match = next((pair for pair in node.value if _key_matches(pair[0], part)), None)
                if match is None:
                    break
                key, node = match
                mark = key.start_mark if (last and on_key) else node.start_mark
            elif (
                isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value)
            ):
                node = node.value[part]
                mark = node.start_mark
            else:
                break
        return mark.line + 1, mark.column + 1


def _key_matches(key: yaml.Node, part: str | int) -> bool:
    """Whether a YAML key node is the mapping key named by `part` (YAML reads `no:` as False)."""
    if not isinstance(key, yaml.ScalarNode):
        return False
    if isinstance(part, bool):
        return key.tag == "tag:yaml.org,2002:bool" and yaml.safe_load(key.value) is part
    return key.value == str(part)


_BOOL_HINT = "quote it: YAML reads yes, no, on and off as true or false"


def _from_pydantic(locator: _Locator, error: Any) -> PolicyIssue:
    """Turn one pydantic error into a positioned issue with a readable message and hint."""
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    message = str(error["msg"]).removeprefix("Value error, ")
    hint: str | None = None
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = list(_model_fields(_type_at(loc[:-1])))
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean '{close[0]}'?" if close else "allowed keys: " + ", ".join(allowed)
        return locator.issue(loc, f"unknown key '{key}'", hint, on_key=True)
    if kind == "missing":
        return locator.issue(loc, f"missing required key '{loc[-1]}'")
    if loc and loc[-1] == "[key]":
        key = error.get("input")
        loc = (*loc[:-2], key) if isinstance(key, str | int) else loc[:-1]
        hint = _BOOL_HINT if isinstance(key, bool) else _enum_hint(_dict_key_type(_type_at(loc[:-1])), key)
        return locator.issue(loc, f"invalid key '{loc[-1]}': {message}", hint, on_key=True)
    if isinstance(error.get("input"), bool) and kind == "string_type":
        hint = _BOOL_HINT
    elif kind == "enum":
        hint = _enum_hint(_type_at(loc), error.get("input"))
    elif kind == "literal_error" and loc == ("version",):
        hint = "this tactful reads version 1 policies"
    elif kind == "string_pattern_mismatch":
        hint = _pattern_hint(loc)
    return locator.issue(loc, message, hint)


def _pattern_hint(loc: Loc) -> str | None:
    if loc and loc[0] == "rules":
        return "rule ids use lowercase letters, digits, - and _"
    if (loc and loc[0] == "templates") or loc[-1:] in (("acknowledge",), ("template",), ("fallback",)):
        return "template ids and language codes use lowercase letters, digits and _ (languages: en, pt-br)"
    if loc[:1] == ("default_language",) or "language" in loc:
        return "use an ISO 639 code such as en, es, pt-br"
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


def _format_path(loc: Loc) -> str:
    """Format a path as `rules[2].then[0].queue.priority`."""
    text = ""
    for part in loc:
        text += (
            f"[{part}]"
            if isinstance(part, int) and not isinstance(part, bool)
            else (f".{part}" if text else str(part))
        )
    return text or "(top level)"
