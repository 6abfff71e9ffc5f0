"""Layered policy files: later files override earlier ones, and every value remembers where it came from.

Precedence, applied file by file in the order given (`base.yaml overrides.yaml`):
- mappings merge key by key, at every depth (a later `safety:` with one key changes only that
  key; a later `templates.ack_complaint.de` replaces only the German variants);
- anything else (a scalar, a list such as `keywords.priority` or `examples`) is replaced whole;
- `rules` merge by `id`: a rule whose id is already present replaces that rule in place; a new
  rule is appended, unless it says `before: <id>` or `after: <id>` (one of them), which places it
  next to a rule already present (from an earlier file or earlier in the same file); a replacing
  rule that says `before`/`after` also moves there. Within one file rule ids must be unique.

The merge works on YAML nodes, so every value of the merged document keeps the file, line and
column it was written at (`Layered.origins`), and errors point into the right file.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field

import yaml

from policies.issues import PolicyIssue

Loc = tuple[str | int, ...]

#: Rule keys that place a rule when files are layered; removed before the rule is validated.
POSITION_KEYS = ("before", "after")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a node of the merged document was written: its file and its path inside that file."""

    file: str
    loc: Loc


@dataclass
class Layered:
    """The merged node tree, where each of its nodes came from, and the problems merging found."""

    root: yaml.MappingNode
    origins: dict[int, Origin]
    issues: list[PolicyIssue]
    # Keeps every node alive so the ids in `origins` stay unique.
    nodes: list[yaml.Node] = field(default_factory=list, repr=False)


def label(key: yaml.Node) -> str:
    """Return a mapping key's text (the scalar as written, or its position for complex keys)."""
    return key.value if isinstance(key, yaml.ScalarNode) else f"<key at {key.start_mark.line + 1}>"


def layer(documents: Sequence[tuple[str, yaml.MappingNode]]) -> Layered:
    """Merge the top-level mappings of several files, in order (see the module docstring)."""
    merger = _Merger()
    merged: yaml.Node | None = None
    for name, root in documents:
        merger.record(name, root, ())
        merged = merger.merge(merged, root, (), name)
    if not isinstance(merged, yaml.MappingNode):
        raise ValueError("layer() needs at least one document")
    return Layered(merged, merger.origins, merger.issues, merger.nodes)


class _Merger:
    def __init__(self) -> None:
        self.origins: dict[int, Origin] = {}
        self.issues: list[PolicyIssue] = []
        self.nodes: list[yaml.Node] = []

    def record(self, name: str, node: yaml.Node, loc: Loc) -> None:
        """Remember the origin of a file's node and of everything below it (keys included)."""
        if id(node) in self.origins:  # an alias: the first place it appears wins
            return
        self.nodes.append(node)
        self.origins[id(node)] = Origin(name, loc)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                self.nodes.append(key)
                self.origins.setdefault(id(key), Origin(name, (*loc, label(key))))
                self.record(name, value, (*loc, label(key)))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.record(name, item, (*loc, index))

    def derived(self, node: yaml.Node, like: yaml.Node) -> yaml.Node:
        """Register a new node as written where `like` was."""
        self.nodes.append(node)
        self.origins[id(node)] = self.origins[id(like)]
        return node

    def merge(self, base: yaml.Node | None, over: yaml.Node, loc: Loc, name: str) -> yaml.Node:
        if loc == ("rules",) and isinstance(over, yaml.SequenceNode):
            return self.merge_rules(base if isinstance(base, yaml.SequenceNode) else None, over, name)
        if isinstance(over, yaml.MappingNode) and (isinstance(base, yaml.MappingNode) or loc == ()):
            return self.merge_mappings(base if isinstance(base, yaml.MappingNode) else None, over, loc, name)
        return over

    def merge_mappings(
        self, base: yaml.MappingNode | None, over: yaml.MappingNode, loc: Loc, name: str
    ) -> yaml.Node:
        pairs: list[tuple[yaml.Node, yaml.Node]] = []
        where: dict[str, int] = {}
        for key, value in base.value if base is not None else []:
            _put(pairs, where, label(key), (key, value))
        for key, value in over.value:
            text = label(key)
            if text in where:
                base_key, base_value = pairs[where[text]]
                merged = self.merge(base_value, value, (*loc, text), name)
                # Keep the key of the file the value now comes from, so positions agree.
                pairs[where[text]] = (key if merged is value else base_key, merged)
            else:
                _put(pairs, where, text, (key, self.merge(None, value, (*loc, text), name)))
        like = base if base is not None else over
        node = yaml.MappingNode(like.tag, pairs, like.start_mark, like.end_mark, like.flow_style)
        return self.derived(node, like)

    def merge_rules(self, base: yaml.SequenceNode | None, over: yaml.SequenceNode, name: str) -> yaml.Node:
        items: list[yaml.Node] = list(base.value) if base is not None else []
        first_here: dict[str, int] = {}
        for index, node in enumerate(over.value):
            rule, position = self.without_position(node, name)
            rule_id = _rule_id(rule)
            if rule_id is not None:
                if rule_id in first_here:
                    self.duplicate(rule, rule_id, first_here[rule_id])
                    continue
                first_here[rule_id] = index
            self.place(items, rule, rule_id, position)
        like = base if base is not None else over
        node = yaml.SequenceNode(like.tag, items, like.start_mark, like.end_mark, like.flow_style)
        return self.derived(node, like)

    def place(
        self,
        items: list[yaml.Node],
        rule: yaml.Node,
        rule_id: str | None,
        position: tuple[str, yaml.Node] | None,
    ) -> None:
        """Put a rule in the merged list: in place of its namesake, at the end, or before/after a rule."""
        current = _index_of(items, rule_id)
        target_index = None
        others = [item for index, item in enumerate(items) if index != current]
        if position is not None:
            kind, target_node = position
            target = str(target_node.value)
            if target == rule_id:
                self.issue(target_node, f"a rule cannot be placed {kind} itself", "name another rule's id")
            else:
                target_index = _index_of(others, target)
                if target_index is None:
                    known = [rid for rid in map(_rule_id, others) if rid]
                    close = difflib.get_close_matches(target, known, n=1)
                    hint = f"did you mean '{close[0]}'?" if close else "name a rule defined before this one"
                    self.issue(
                        target_node, f"{kind}: there is no rule '{target}' to place this rule {kind}", hint
                    )
        if target_index is None:  # no (usable) position: replace in place, or append
            if current is None:
                items.append(rule)
            else:
                items[current] = rule
            return
        items[:] = others
        items.insert(target_index + (1 if position is not None and position[0] == "after" else 0), rule)

    def without_position(self, node: yaml.Node, name: str) -> tuple[yaml.Node, tuple[str, yaml.Node] | None]:
        """Return the rule without its `before`/`after` key, and that key's kind and value node."""
        if not isinstance(node, yaml.MappingNode):
            return node, None
        kept = [(key, value) for key, value in node.value if label(key) not in POSITION_KEYS]
        given = [(key, value) for key, value in node.value if label(key) in POSITION_KEYS]
        if not given:
            return node, None
        if len(given) > 1:
            self.issue(given[1][0], "give before or after, not both", f"keep '{label(given[0][0])}'")
        key, value = given[0]
        stripped = self.derived(
            yaml.MappingNode(node.tag, kept, node.start_mark, node.end_mark, node.flow_style), node
        )
        if not (isinstance(value, yaml.ScalarNode) and value.value.strip()):
            self.issue(value, f"{label(key)} needs a rule id", f"e.g. {label(key)}: complaint")
            return stripped, None
        return stripped, (label(key), value)

    def duplicate(self, rule: yaml.Node, rule_id: str, first: int) -> None:
        id_node = next(value for key, value in rule.value if label(key) == "id")
        self.issue(
            id_node,
            f"duplicate rule id '{rule_id}'",
            f"first used by rules[{first}]; rule ids must be unique within a file, "
            "and a later file replaces a rule by repeating its id",
        )

    def issue(self, node: yaml.Node, message: str, hint: str | None) -> None:
        """Record a merge problem at a node written in one of the files."""
        origin = self.origins[id(node)]
        mark = node.start_mark
        path = format_path(origin.loc)
        self.issues.append(PolicyIssue(origin.file, mark.line + 1, mark.column + 1, path, message, hint))


def _put(
    pairs: list[tuple[yaml.Node, yaml.Node]],
    where: dict[str, int],
    text: str,
    pair: tuple[yaml.Node, yaml.Node],
) -> None:
    """Add a pair, or replace the earlier pair with the same key (as YAML's `<<` merge does)."""
    if text in where:
        pairs[where[text]] = pair
    else:
        where[text] = len(pairs)
        pairs.append(pair)


def _rule_id(node: yaml.Node) -> str | None:
    """Return a rule mapping's id as written, or None when it has no scalar id."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for key, value in node.value:
        if label(key) == "id" and isinstance(value, yaml.ScalarNode) and value.value:
            return str(value.value)
    return None


def _index_of(items: Sequence[yaml.Node], rule_id: str | None) -> int | None:
    if rule_id is None:
        return None
    return next((index for index, item in enumerate(items) if _rule_id(item) == rule_id), None)


def format_path(loc: Loc) -> str:
    """Format a path as `rules[2].then[0].queue.priority`."""
    text = ""
    for part in loc:
        text += (
            f"[{part}]"
            if isinstance(part, int) and not isinstance(part, bool)
            else (f".{part}" if text else str(part))
        )
    return text or "(top level)"
