"""The whole `tactful policy check` as a value: load the layered files with their examples, then lint.

`tactful run` uses it before putting a changed policy in force, so a file it rejects shows the
same `file:line:col: error: field: message (hint)` lines the command prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from policies.issues import PolicyError, PolicyIssue, sort_issues
from policies.lint import lint
from policies.loader import LoadedPolicy, parse_policies


@dataclass(frozen=True, slots=True)
class PolicyCheck:
    """The outcome of checking policy files: every issue in file order, and the policy if it loaded."""

    issues: tuple[PolicyIssue, ...]
    loaded: LoadedPolicy | None

    @property
    def errors(self) -> tuple[PolicyIssue, ...]:
        """The issues that stop the policy from being put in force."""
        return tuple(issue for issue in self.issues if issue.severity == "error")

    @property
    def warnings(self) -> tuple[PolicyIssue, ...]:
        """The issues that only inform."""
        return tuple(issue for issue in self.issues if issue.severity == "warning")

    @property
    def passed(self) -> bool:
        """Whether the files load and have no errors (warnings do not count)."""
        return self.loaded is not None and not self.errors


def check_sources(sources: Sequence[tuple[bytes, str | Path]]) -> PolicyCheck:
    """Check layered policy documents given as (bytes, path), exactly as `tactful policy check` does."""
    files = [str(path) for _data, path in sources]
    try:
        loaded = parse_policies(sources, examples=True)
    except PolicyError as exc:
        return PolicyCheck(tuple(sort_issues(exc.issues, files)), None)
    return PolicyCheck(tuple(sort_issues(lint(loaded), files)), loaded)
