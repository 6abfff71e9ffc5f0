"""Holds the conduct policy currently in force."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from policies.decision import Decision, DecisionContext
from policies.engine import PolicyEngine
from policies.loader import LoadedPolicy, default_policy_path, load_policies

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

    def __init__(self, loaded: LoadedPolicy) -> None:
        self.loaded = loaded
        self._engine = PolicyEngine(loaded)

    @property
    def version(self) -> str:
        """The version hash decisions cite."""
        return self._engine.version

    @property
    def source(self) -> str:
        """The file(s) the policy was read from (`base.yaml + overrides.yaml` when layered)."""
        return self.loaded.source

    @property
    def brand_name(self) -> str:
        """The brand's display name."""
        return self.loaded.policy.brand.name

    @property
    def sends_per_minute(self) -> int:
        """The global automated send cap."""
        return self._engine.global_sends_per_minute

    def decide(self, ctx: DecisionContext) -> Decision:
        """Decide one message under this policy."""
        return self._engine.decide(ctx)


class PolicySource:
    """Loads the configured policy file(s) and hands out the active policy (thread-safe).

    Examples in the files (`examples:`) are not read: they only serve `tactful policy test`.
    """

    def __init__(self, path: ConfiguredPaths) -> None:
        self.paths = policy_paths(path)
        self.path = self.paths[0]
        self._lock = threading.Lock()
        self._active = ActivePolicy(load_policies(self.paths))

    def current(self) -> ActivePolicy:
        """Return the policy in force now."""
        with self._lock:
            return self._active
