"""Scoring in a child process: same verdicts as inline, answers in order, survives the child dying."""

from __future__ import annotations

import os
import signal

from moderation.classifier import ModerationInput, Moderator
from moderation.pool import InlineModerator, ProcessModerator

TEXTS = [
    "@acme my order never arrived and nobody answers",
    "@acme does the blender work with 110V?",
    "@acme love the new speaker, best purchase this year!",
    "@acme you people are clowns, losers",
    "@acme zamówienie przyszło uszkodzone",
]


def batch(offset: int) -> list[ModerationInput]:
    return [ModerationInput(f"{text} #{offset}") for text in TEXTS]


def test_child_process_gives_the_same_verdicts_in_submission_order() -> None:
    inline = InlineModerator(Moderator())
    remote = ProcessModerator()
    try:
        handles = [remote.submit(batch(i)) for i in range(3)]
        results = [h.result() for h in reversed(handles)][::-1]
    finally:
        remote.close()
    assert results == [inline.submit(batch(i)).result() for i in range(3)]


def test_batches_in_flight_are_rescored_when_the_child_dies() -> None:
    remote = ProcessModerator()
    try:
        remote.submit(batch(0)).result()
        pid = remote._process.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        remote._process.join(timeout=5)
        handle = remote.submit(batch(1))
        verdicts = handle.result()
        assert remote._process.pid != pid
    finally:
        remote.close()
    assert verdicts == Moderator().classify(batch(1))
