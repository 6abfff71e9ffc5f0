"""Scoring in a child process, so the next batch is scored while the current one is decided and stored."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any, Protocol

from moderation.classifier import ModerationInput, Moderator
from moderation.rules import DEFAULT_KEYWORDS
from moderation.verdict import Verdict

log = logging.getLogger(__name__)


class PendingVerdicts(Protocol):
    """Verdicts that may still be being computed."""

    def result(self) -> list[Verdict]:
        """Wait for and return the verdicts, in input order."""
        ...


class ReadyVerdicts:
    """Verdicts computed synchronously."""

    def __init__(self, verdicts: list[Verdict]) -> None:
        self._verdicts = verdicts

    def result(self) -> list[Verdict]:
        """Return the verdicts."""
        return self._verdicts


class InlineModerator:
    """Scores in the calling process; `submit` computes at once (no overlap)."""

    def __init__(self, moderator: Moderator | None = None) -> None:
        self.moderator = moderator or Moderator()

    def submit(self, items: Sequence[ModerationInput]) -> PendingVerdicts:
        """Score a batch now."""
        return ReadyVerdicts(self.moderator.classify(items))

    def close(self) -> None:
        """Nothing to release."""


def _serve(conn: Connection, keywords: tuple[str, ...]) -> None:
    moderator = Moderator(keywords=keywords)
    while True:
        try:
            items = conn.recv()
        except EOFError:
            return
        if items is None:
            return
        try:
            conn.send(("ok", moderator.classify(items)))
        except Exception as exc:  # report to the parent instead of dying silently
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class _RemoteVerdicts:
    def __init__(self, owner: ProcessModerator, items: Sequence[ModerationInput]) -> None:
        self._owner = owner
        self.items = items
        self._value: list[Verdict] | None = None

    def result(self) -> list[Verdict]:
        if self._value is None:
            self._value = self._owner._collect(self)
        return self._value


class ProcessModerator:
    """Runs a Moderator in one child process; batches are answered in the order they were submitted.

    If the child dies, the batches it had not answered are scored again in a fresh child, so a
    crash costs time, never verdicts.
    """

    def __init__(self, keywords: Sequence[str] = DEFAULT_KEYWORDS) -> None:
        self._keywords = tuple(keywords)
        self._context = multiprocessing.get_context("spawn")
        self._in_flight: deque[_RemoteVerdicts] = deque()
        self._start()

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        self._conn = parent
        self._process = self._context.Process(
            target=_serve, args=(child, self._keywords), name="tactful-scoring", daemon=True
        )
        self._process.start()
        child.close()

    def submit(self, items: Sequence[ModerationInput]) -> PendingVerdicts:
        """Send a batch to the child and return a handle to its verdicts."""
        handle = _RemoteVerdicts(self, list(items))
        self._in_flight.append(handle)
        try:
            self._conn.send(handle.items)
        except (BrokenPipeError, OSError):
            self._restart()
        return handle

    def _collect(self, handle: _RemoteVerdicts) -> list[Verdict]:
        while True:
            head = self._in_flight[0]
            try:
                status, payload = self._receive()
            except (EOFError, OSError):
                self._restart()
                continue
            self._in_flight.popleft()
            if status != "ok":
                raise RuntimeError(f"scoring process failed: {payload}")
            head._value = payload
            if head is handle:
                return list(payload)

    def _receive(self) -> Any:
        return self._conn.recv()

    def _restart(self) -> None:
        log.warning(
            "scoring process stopped; starting a new one and resubmitting %d batches", len(self._in_flight)
        )
        self._process.kill()
        self._process.join(timeout=5)
        self._start()
        for handle in self._in_flight:
            self._conn.send(handle.items)

    def close(self) -> None:
        """Stop the child process."""
        with contextlib.suppress(BrokenPipeError, OSError):
            self._conn.send(None)
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
        self._conn.close()
