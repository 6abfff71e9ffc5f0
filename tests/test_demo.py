"""`tactful demo` end to end: scripted traffic in, verdicts, acknowledgements and a filled queue out."""

from __future__ import annotations

import io
import re

import pytest

from simulator.script import load_script
from tactful.demo import run_demo


@pytest.mark.slow
def test_demo_runs_the_whole_loop_and_prints_a_summary() -> None:
    out = io.StringIO()
    assert run_demo(duration=12, speed=4, out=out) == 0
    text = out.getvalue()
    stored = re.search(r"messages stored:\s+(\d+)", text)
    assert stored is not None and int(stored.group(1)) == len(load_script().events)
    assert "[message]" in text and "[sent]" in text
    replies = re.search(r"simulator received:\s+(\d+) public replies", text)
    assert replies is not None and int(replies.group(1)) > 0
    assert re.search(r"review queue:\s+\d+ open items", text)
