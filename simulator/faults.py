"""Random fault injection shared by the platform simulators: errors, throttling, drops, bad bodies, delay.

A `FaultPlan` holds rules, each with a rate (the chance that a matching request gets that fault),
optional HTTP methods and path patterns, and an optional cap on how many it injects. Draws come
from one seeded `random.Random`, so a run with the same requests in the same order injects the
same faults. Every simulator answers the kinds in its platform's own words (see
`LoopbackServer.set_fault_rate` and friends in `simulator.http`):

* ``status``: an error status (5xx by default) with the platform's error body; nothing happens;
* ``throttle``: the platform's rate-limit answer (X: 429 with ``x-rate-limit-reset``; Graph: code
  4/17/32 with ``x-app-usage`` / ``x-business-use-case-usage``; Telegram: 429 with
  ``parameters.retry_after``); nothing happens;
* ``drop``: the connection is closed without an answer, before the request takes effect, or after
  it did (``after_effect``: the platform acted but the client cannot know);
* ``malformed``: a 200 whose body is truncated JSON (``shape="truncated"``) or valid JSON of the
  wrong shape (``shape="shape"``); nothing happens;
* ``delay``: the answer comes `seconds` late (then normally), to trip client timeouts.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class FaultKind(StrEnum):
    """What an injected fault does to one request."""

    STATUS = "status"
    THROTTLE = "throttle"
    DROP = "drop"
    MALFORMED = "malformed"
    DELAY = "delay"


MALFORMED_SHAPES = ("truncated", "shape")


@dataclass(frozen=True, slots=True)
class InjectedFault:
    """The fault chosen for one request."""

    kind: FaultKind
    status: int = 500
    retry_after: float = 1.0
    code: int | None = None  # the platform's error code, where it has several (Graph throttles)
    seconds: float = 0.0
    after_effect: bool = False
    shape: str = "truncated"


@dataclass(slots=True)
class _Rule:
    fault: InjectedFault
    rate: float
    methods: frozenset[str] | None
    paths: tuple[re.Pattern[str], ...]
    remaining: int | None

    def matches(self, method: str, target: str) -> bool:
        if self.methods is not None and method.upper() not in self.methods:
            return False
        return not self.paths or any(pattern.search(target) for pattern in self.paths)


class FaultPlan:
    """Thread-safe random faults at configured rates; the first rule that draws a hit wins."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._rules: list[_Rule] = []
        self._injected: Counter[str] = Counter()

    def seed(self, seed: int) -> None:
        """Restart the random draws from `seed`."""
        with self._lock:
            self._rng = random.Random(seed)

    def add(
        self,
        fault: InjectedFault,
        rate: float,
        *,
        methods: Iterable[str] | None = None,
        paths: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> None:
        """Inject `fault` into a `rate` share of matching requests (at most `limit` times).

        `methods` are HTTP methods (None: any); `paths` are regular expressions searched in the
        simulator's fault target (the request path; Graph: the unversioned path; Telegram: the
        Bot API method name); none means every request.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"a fault rate is between 0 and 1, got {rate!r}")
        if fault.kind is FaultKind.MALFORMED and fault.shape not in MALFORMED_SHAPES:
            raise ValueError(f"malformed bodies are {MALFORMED_SHAPES}, got {fault.shape!r}")
        rule = _Rule(
            fault=fault,
            rate=rate,
            methods=frozenset(m.upper() for m in methods) if methods is not None else None,
            paths=tuple(re.compile(p) for p in (paths or ())),
            remaining=limit,
        )
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        """Remove every rule (the counts of what was injected stay)."""
        with self._lock:
            self._rules.clear()

    def pick(self, method: str, target: str) -> InjectedFault | None:
        """Draw the fault for one request, or None; counts what it injects."""
        with self._lock:
            for rule in self._rules:
                if rule.remaining == 0 or not rule.matches(method, target):
                    continue
                if self._rng.random() >= rule.rate:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                fault = rule.fault
                self._injected[_label(fault)] += 1
                return fault
        return None

    def injected(self) -> dict[str, int]:
        """How many faults of each kind were injected so far (``status:503``, ``throttle``, ...)."""
        with self._lock:
            return dict(self._injected)


def _label(fault: InjectedFault) -> str:
    if fault.kind is FaultKind.STATUS:
        return f"status:{fault.status}"
    if fault.kind is FaultKind.DROP and fault.after_effect:
        return "drop:after_effect"
    if fault.kind is FaultKind.MALFORMED:
        return f"malformed:{fault.shape}"
    return fault.kind.value
