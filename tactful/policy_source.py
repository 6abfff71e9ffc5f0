"""Holds the conduct policy currently in force."""

from __future__ import annotations

import threading
from pathlib import Path

from policies.decision import Decision, DecisionContext
from policies.engine import PolicyEngine
from policies.loader import LoadedPolicy, default_policy_path, load_policy


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
        """The file the policy was read from."""
        return str(self.loaded.path)

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
    """Loads the configured policy file and hands out the active policy (thread-safe)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path or default_policy_path()
        self._lock = threading.Lock()
        self._active = ActivePolicy(load_policy(self.path))

    def current(self) -> ActivePolicy:
        """Return the policy in force now."""
        with self._lock:
            return self._active
