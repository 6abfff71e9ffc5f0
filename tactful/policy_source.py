"""Holds the conduct policy currently in force, and puts a changed policy file in force while running.

`PolicySource.check()` looks at the configured files (see `tactful.policy_files`); contents that
changed and settled are checked exactly as `tactful policy check` does. Contents without errors
(warnings are fine) replace the policy in force in one atomic swap: the processing stage asks for
the policy once per batch, so every batch is decided wholly under one version. Contents with
errors are rejected: the errors are logged once per distinct contents and the last good policy
keeps running. Every process of the service (each processing worker, and the service process
whose send loop reads the global send cap) holds its own source and checks on its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from policies.check import check_sources
from policies.decision import Decision, DecisionContext
from policies.engine import PolicyEngine
from policies.issues import PolicyError
from policies.loader import LoadedPolicy, default_policy_path, parse_policies
from storage.policy_versions import PolicyVersionFacts
from storage.send_budget import IdenticalTexts
from tactful.clock import Clock, SystemClock
from tactful.policy_files import PolicyFiles, PolicyFileWatcher, read_policy_files, stamps

log = logging.getLogger(__name__)

#: `[policy] path`: one file, several layered files (later ones override earlier ones), or none.
ConfiguredPaths = Path | Sequence[Path] | None


def policy_paths(configured: ConfiguredPaths) -> tuple[Path, ...]:
    """Return the policy files to layer, in order: the configured ones, else the shipped default."""
    if configured is None:
        return (default_policy_path(),)
    if isinstance(configured, Path):
        return (configured,)
    return tuple(configured) or (default_policy_path(),)


class ActivePolicy:
    """The policy in force, with the facts the pipeline needs about it (version, source, caps)."""

    def __init__(self, loaded: LoadedPolicy, files: PolicyFiles | None = None) -> None:
        self.loaded = loaded
        self._engine = PolicyEngine(loaded)
        self.files = files  # the bytes it was read from (a worker process starts from them)

    @property
    def content_hash(self) -> str | None:
        """The full sha256 the version abbreviates (None when not read from files)."""
        return self.files.content_hash if self.files is not None else None

    @property
    def author(self) -> str | None:
        """Who changed the policy files last, as far as known (the newest file's owner)."""
        return self.files.author if self.files is not None else None

    @property
    def version(self) -> str:
        """The version hash decisions cite."""
        return self._engine.version

    @property
    def source(self) -> str:
        """The file(s) the policy was read from (`base.yaml + overrides.yaml` when layered)."""
        return self.loaded.source

    @property
    def facts(self) -> PolicyVersionFacts:
        """What the policy_versions table records about this version."""
        return PolicyVersionFacts(self.version, self.source, self.content_hash, self.author)

    @property
    def brand_name(self) -> str:
        """The brand's display name."""
        return self.loaded.policy.brand.name

    @property
    def sends_per_minute(self) -> int:
        """The global automated send cap."""
        return self._engine.global_sends_per_minute

    @property
    def identical_texts(self) -> IdenticalTexts | None:
        """How often one text may be sent per platform (None: no identical-text check)."""
        safety = self.loaded.policy.safety
        if safety.identical_text_window_hours <= 0:
            return None
        return IdenticalTexts(safety.max_identical_texts, timedelta(hours=safety.identical_text_window_hours))

    def decide(self, ctx: DecisionContext) -> Decision:
        """Decide one message under this policy."""
        return self._engine.decide(ctx)


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """What one check did: put new contents in force (`active`) or refused them (`rejected`)."""

    status: Literal["active", "rejected"]
    facts: PolicyVersionFacts
    previous: str  # the version in force before the check
    errors: tuple[str, ...] = ()  # `file:line:col: error: …` lines of a rejection
    warnings: int = 0

    @property
    def error_text(self) -> str:
        """The error lines as one text, for storage and the dashboard."""
        return "\n".join(self.errors)


class PolicySource:
    """Loads the configured policy file(s), hands out the active policy and swaps in valid changes.

    Examples in the files (`examples:`) are not read into the running policy: they only serve
    `tactful policy test` (a changed file's examples are checked, as `tactful policy check` does).
    With `worker` (e.g. ``worker 1/2``), log lines start with it and a rejection is logged as one
    warning line instead of every error (the service process logs and records them; its workers
    only keep their last good policy). `start_from` gives contents already checked (a worker
    starts from the service's policy in force, whatever the files hold now); the first check
    then compares the files with them.
    """

    def __init__(
        self,
        path: ConfiguredPaths,
        *,
        clock: Clock | None = None,
        check_seconds: float = 0.0,
        worker: str | None = None,
        start_from: PolicyFiles | None = None,
    ) -> None:
        self.paths = policy_paths(path)
        self.path = self.paths[0]
        self._lock = threading.Lock()
        self._check_lock = threading.Lock()
        self._clock = clock or SystemClock()
        self._interval = timedelta(seconds=check_seconds)
        self._worker = worker
        self._prefix = f"{worker}: " if worker else ""
        self._next_check: datetime | None = None
        before = stamps(self.paths) if start_from is None else ()
        files = read_policy_files(self.paths) if start_from is None else start_from
        if files.unreadable:
            raise PolicyError(files.unreadable, [str(p) for p in self.paths])
        self._active = ActivePolicy(parse_policies(files.sources), files)
        self._watcher = PolicyFileWatcher(self.paths, files, before)

    def current(self) -> ActivePolicy:
        """Return the policy in force now."""
        with self._lock:
            return self._active

    def latest(self) -> ActivePolicy:
        """Check the files when due, then return the policy in force (for a loop that checks between batches)."""
        self.check_if_due()
        return self.current()

    def check_if_due(self) -> PolicyChange | None:
        """Run `check` when `check_seconds` have passed since the last one (never when it is 0)."""
        if self._interval <= timedelta(0):
            return None
        now = self._clock.now()
        if self._next_check is not None and now < self._next_check:
            return None
        self._next_check = now + self._interval
        return self.check()

    def check(self) -> PolicyChange | None:
        """Look at the files once; put settled, valid new contents in force; return what changed."""
        with self._check_lock:
            files = self._watcher.poll()
            if files is None:
                return None
            return self._consider(files)

    def _consider(self, files: PolicyFiles) -> PolicyChange | None:
        active = self.current()
        if files.content_hash == active.content_hash:
            log.info("%spolicy files are back to version %s, which is in force", self._prefix, active.version)
            return None
        facts = PolicyVersionFacts(files.version, files.source, files.content_hash, files.author)
        errors = tuple(issue.describe() for issue in files.unreadable)
        check = None
        if not errors:
            check = check_sources(files.sources)
            errors = tuple(issue.describe() for issue in check.errors)
        if errors or check is None or check.loaded is None:
            self._log_rejection(facts, errors, active.version)
            return PolicyChange("rejected", facts, active.version, errors)
        new = ActivePolicy(parse_policies(files.sources), files)
        with self._lock:
            self._active = new
        warnings = len(check.warnings)
        log.info(
            "%spolicy version %s in force (was %s), from %s%s%s",
            self._prefix,
            new.version,
            active.version,
            new.source,
            f", changed by {files.author}" if files.author else "",
            f"; {warnings} warnings: see tactful policy check" if warnings else "",
        )
        return PolicyChange("active", new.facts, active.version, warnings=warnings)

    def _log_rejection(self, facts: PolicyVersionFacts, errors: tuple[str, ...], kept: str) -> None:
        if self._worker:
            log.warning(
                "%schanged policy %s (%s) has %d errors; keeping version %s",
                self._prefix,
                facts.path,
                facts.version,
                len(errors),
                kept,
            )
            return
        log.error(
            "changed policy %s (%s) rejected with %d errors; version %s stays in force:\n%s",
            facts.path,
            facts.version,
            len(errors),
            kept,
            "\n".join(errors),
        )
