"""Policy examples: `tactful policy test` runs them with the real moderator; run time ignores them."""

from __future__ import annotations

from pathlib import Path

import pytest

from moderation.verdict import Category
from policies.engine import PolicyEngine
from policies.examples import example_context, run_examples
from policies.loader import default_policy_path, load_policy, parse_policy
from policies.schema import DEFAULT_CHANNEL, Policy
from tactful.cli import main
from tactful.domain import Channel, Platform
from tactful.scoring import policy_moderator

DEFAULT = default_policy_path()
NON_ENGLISH = {"es", "de", "fr", "pl", "ro", "ru", "zh"}


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(DEFAULT, examples=True).policy


def test_policy_test_passes_on_the_default_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "test", str(DEFAULT)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert all(line.startswith("PASS ") for line in out[:-1])
    count = len(load_policy(DEFAULT, examples=True).policy.examples)
    assert out[-1].startswith(f"policy test: {count} examples, {count} passed, 0 failed (model default-v1")


def test_the_default_examples_cover_the_craft(policy: Policy) -> None:
    examples = policy.examples
    assert len(examples) >= 30
    assert {ex.expect.category for ex in examples} >= set(Category)
    assert {ex.platform for ex in examples} == set(Platform)
    assert {ex.channel or DEFAULT_CHANNEL[ex.platform] for ex in examples} == set(Channel)
    assert {ex.expect.language for ex in examples} >= NON_ENGLISH | {"en"}
    for ex in examples:  # a language the models do not read is never answered automatically
        if ex.expect.language in NON_ENGLISH:
            assert ex.expect.rule is not None and ex.expect.rule.startswith("other-language"), ex.text
            assert ex.expect.actions == ("queue",)
    heated = [ex for ex in examples if ex.context.heat >= 0.6]
    assert {ex.platform for ex in heated if ex.expect.rule == "heated-thread"} == set(Platform)
    assert any(ex.expect.rule == "own-account" and ex.context.own_account for ex in examples)
    assert any(ex.expect.rule == "own-account" and not ex.context.own_account for ex in examples)
    insults = [ex for ex in examples if "idiots" in ex.text and ex.expect.category is Category.COMPLAINT]
    assert len(insults) >= 2


def test_a_wrong_expectation_fails_with_the_verdict_and_the_deciding_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    override = tmp_path / "wrong.yaml"
    override.write_text(
        "examples:\n"
        '  - text: "Where is my parcel? It arrived broken and nobody answers"\n'
        "    expect: {category: complaint, rule: complaint}\n"
        '  - name: refund is not praise\n    text: "My order never arrived and I want a refund"\n'
        "    platform: facebook\n"
        "    expect: {category: praise, rule: praise, actions: [queue]}\n",
        encoding="utf-8",
    )
    assert main(["policy", "test", str(DEFAULT), str(override)]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith(f"PASS {override}:2 ")
    assert lines[1] == f"FAIL {override}:4 examples[1] refund is not praise"
    assert "  expected category praise, got complaint" in lines
    assert "  expected rule praise, got complaint" in lines
    assert "  expected actions [queue], got [acknowledge, queue]" in lines
    assert any(line.startswith("  verdict: complaint, confidence ") for line in lines)
    assert any(line.startswith("  explanation: complaint:") and "refund" in line for line in lines)
    assert any(line.startswith("  decision: rule complaint: category complaint") for line in lines)
    complaint_line = _line_of(DEFAULT, "  - id: complaint\n")
    assert f"  deciding rule: complaint at {DEFAULT}:{complaint_line} (rules[11])" in lines
    assert lines[-1].startswith("policy test: 2 examples, 1 passed, 1 failed")


def _line_of(path: Path, text: str) -> int:
    content = path.read_text(encoding="utf-8")
    return content[: content.index(text)].count("\n") + 1


def test_no_examples_or_a_broken_policy_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bare = tmp_path / "bare.yaml"
    bare.write_text(
        "version: 1\nbrand: {name: Acme}\nrules:\n  - {id: a, then: [ignore: a]}\n", encoding="utf-8"
    )
    assert main(["policy", "test", str(bare)]) == 1
    assert "no examples" in capsys.readouterr().out
    broken = tmp_path / "broken.yaml"
    broken.write_text(bare.read_text() + "examples:\n  - text: hi\n    expect: {rule: b}\n", encoding="utf-8")
    assert main(["policy", "test", str(broken)]) == 1
    out = capsys.readouterr().out
    assert f"{broken}:7:20: error: examples[0].expect.rule: expects rule 'b'" in out
    assert "Traceback" not in out


def test_run_time_ignores_examples(policy: Policy) -> None:
    at_run_time = load_policy(DEFAULT)
    assert at_run_time.policy.examples == ()
    assert at_run_time.policy.rules == policy.rules
    assert at_run_time.policy.templates == policy.templates
    # An example that would fail `policy check` does not stop the service.
    text = DEFAULT.read_bytes() + b"  - text: hi\n    platform: myspace\n    expect: {}\n"
    assert parse_policy(text, "p.yaml").policy.rules == policy.rules


def test_examples_do_not_change_decisions(policy: Policy) -> None:
    with_examples = load_policy(DEFAULT, examples=True)
    without = load_policy(DEFAULT)
    moderator = policy_moderator(policy.keywords.priority)
    results = run_examples(with_examples, moderator)
    engine = PolicyEngine(without)
    for result in results:
        decision = engine.decide(example_context(result.example, result.index, result.verdict))
        assert decision == result.decision
