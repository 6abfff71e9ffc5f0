"""Policy problems as values: one located issue (error or warning), and the error that carries them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tactful.errors import ConfigurationError

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class PolicyIssue:
    """One mistake in a policy file; lines and columns are 1-based.

    `field_path` is the path inside the file the issue is in (`rules[2].then[0].queue.priority`).
    Errors stop a policy from loading; warnings (from `policies.lint`) only inform.
    """

    file: str
    line: int
    column: int
    field_path: str
    message: str
    hint: str | None = None
    severity: Severity = "error"

    def __str__(self) -> str:
        """Format as `file:line:col: field.path: message (hint)`."""
        text = f"{self.file}:{self.line}:{self.column}: {self.field_path}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def describe(self) -> str:
        """Format with the severity: `file:line:col: error: field.path: message (hint)`."""
        text = f"{self.file}:{self.line}:{self.column}: {self.severity}: {self.field_path}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


def sort_issues(issues: Sequence[PolicyIssue], files: Sequence[str] = ()) -> list[PolicyIssue]:
    """Order issues by file (in `files` order, others after), then line and column."""
    rank = {name: index for index, name in enumerate(files)}
    return sorted(issues, key=lambda issue: (rank.get(issue.file, len(rank)), issue.line, issue.column))


class PolicyError(ConfigurationError):
    """A policy file is invalid; `issues` lists every problem found, in file order."""

    def __init__(self, issues: Sequence[PolicyIssue], files: Sequence[str] = ()) -> None:
        self.issues = sort_issues(issues, files)
        super().__init__("\n".join(str(issue) for issue in self.issues))
