"""Layered policy files: precedence (mappings by key, rules by id), and errors that point into the right file."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.issues import PolicyError
from policies.lint import lint
from policies.loader import load_policies, load_policy, parse_policies
from tactful.cli import main
from tactful.policy_source import PolicySource, policy_paths
from tactful.scoring import policy_priority_keywords
from tactful.settings import load_settings

LAYERS = Path(__file__).parent / "fixtures" / "policy" / "layers"
BASE = LAYERS / "base.yaml"
OVERRIDES = LAYERS / "overrides.yaml"


def test_later_files_override_earlier_ones() -> None:
    policy = load_policies([BASE, OVERRIDES]).policy
    # rules: replaced in place by id, new ones placed before/after a named rule
    assert [rule.id for rule in policy.rules] == [
        "own-account",
        "refund",
        "complaint",
        "question",
        "praise",
        "other",
    ]
    complaint = policy.rules[2]
    assert [action.kind for action in complaint.then] == ["queue"]
    assert complaint.then[0].queue is not None and complaint.then[0].queue.priority == 80
    # mappings: key by key, at every depth
    assert policy.brand.name == "Acme Europe"
    assert policy.brand.own_accounts["x"] == ("acme",)  # type: ignore[index]
    assert set(policy.templates["ack"]) == {"en", "de"}
    assert policy.safety.max_acks_per_author_per_day == 1
    assert policy.safety.global_sends_per_minute == 30
    # lists other than rules: replaced whole
    assert policy.keywords.priority == ("warranty",)


def test_a_single_file_reads_as_before() -> None:
    alone = load_policy(BASE)
    assert [rule.id for rule in alone.policy.rules] == ["own-account", "complaint", "question", "other"]
    assert alone.paths == (BASE,) and alone.source == str(BASE)


def test_the_version_covers_every_file_in_order() -> None:
    layered = load_policies([BASE, OVERRIDES])
    assert layered.version == load_policies([BASE, OVERRIDES]).version
    assert layered.version != load_policy(BASE).version
    tuned = [(BASE.read_bytes(), BASE), (OVERRIDES.read_bytes() + b"# tuned\n", OVERRIDES)]
    assert parse_policies(tuned).version != layered.version
    assert layered.source == f"{BASE} + {OVERRIDES}"


def test_examples_are_replaced_whole_and_dropped_at_run_time() -> None:
    assert [ex.expect.rule for ex in load_policies([BASE, OVERRIDES], examples=True).policy.examples] == [
        "refund",
        "complaint",
    ]
    assert load_policies([BASE, OVERRIDES]).policy.examples == ()


def test_an_error_in_an_override_points_into_that_file() -> None:
    with pytest.raises(PolicyError) as caught:
        load_policies([BASE, LAYERS / "typo_override.yaml"])
    [issue] = caught.value.issues
    assert (issue.file, issue.line, issue.column) == (str(LAYERS / "typo_override.yaml"), 4, 7)
    assert issue.field_path == "rules[0].when.catgory"  # the path inside that file, not the merged one


def test_an_error_in_the_base_still_points_at_the_base(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(
        BASE.read_text(encoding="utf-8").replace("priority: 50", "priority: 150"), encoding="utf-8"
    )
    with pytest.raises(PolicyError) as caught:
        load_policies([base, OVERRIDES])
    [issue] = caught.value.issues
    assert (issue.file, issue.line, issue.field_path) == (str(base), 24, "rules[2].then[0].queue.priority")


def sources(*texts: str) -> list[tuple[bytes, str]]:
    return [(text.encode(), f"layer{index}.yaml") for index, text in enumerate(texts)]


HEAD = "version: 1\nbrand: {name: Acme}\n"
RULES = "rules:\n  - {id: a, then: [ignore: a]}\n  - {id: b, then: [ignore: b]}\n"


def test_semantic_errors_of_merged_values_point_at_the_file_that_wrote_them() -> None:
    override = "rules:\n  - id: b\n    then:\n      - acknowledge: thanks\n"
    with pytest.raises(PolicyError) as caught:
        parse_policies(sources(HEAD + RULES, override))
    [issue] = caught.value.issues
    assert (issue.file, issue.line, issue.column, issue.field_path) == (
        "layer1.yaml",
        4,
        22,
        "rules[0].then[0].acknowledge",
    )


@pytest.mark.parametrize(
    ("override", "order"),
    [
        ("rules:\n  - {id: c, then: [ignore: c]}\n", ["a", "b", "c"]),
        ("rules:\n  - {id: c, before: a, then: [ignore: c]}\n", ["c", "a", "b"]),
        ("rules:\n  - {id: c, after: a, then: [ignore: c]}\n", ["a", "c", "b"]),
        ("rules:\n  - {id: a, after: b, then: [ignore: moved]}\n", ["b", "a"]),
        (
            "rules:\n  - {id: c, then: [ignore: c]}\n  - {id: d, before: c, then: [ignore: d]}\n",
            ["a", "b", "d", "c"],
        ),
    ],
)
def test_rule_placement(override: str, order: list[str]) -> None:
    policy = parse_policies(sources(HEAD + RULES, override)).policy
    assert [rule.id for rule in policy.rules] == order


@pytest.mark.parametrize(
    ("override", "line", "column", "path", "message", "hint"),
    [
        (
            "rules:\n  - {id: c, before: z, then: [ignore: c]}\n",
            2,
            21,
            "rules[0].before",
            "no rule 'z'",
            "defined before",
        ),
        (
            "rules:\n  - {id: c, before: a, after: b, then: [ignore: c]}\n",
            2,
            24,
            "rules[0].after",
            "not both",
            "before",
        ),
        ("rules:\n  - {id: c, after: c, then: [ignore: c]}\n", 2, 20, "rules[0].after", "itself", "another"),
        (
            "rules:\n  - {id: c, after: [a], then: [ignore: c]}\n",
            2,
            20,
            "rules[0].after",
            "needs a rule id",
            "after:",
        ),
        (
            "rules:\n  - {id: c, then: [ignore: c]}\n  - {id: c, then: [ignore: d]}\n",
            3,
            10,
            "rules[1].id",
            "duplicate rule id 'c'",
            "unique within a file",
        ),
    ],
)
def test_placement_mistakes(
    override: str, line: int, column: int, path: str, message: str, hint: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policies(sources(HEAD + RULES, override))
    [issue] = caught.value.issues
    assert (issue.file, issue.line, issue.column, issue.field_path) == ("layer1.yaml", line, column, path)
    assert message in issue.message
    assert issue.hint is not None and hint in issue.hint


def test_errors_of_several_files_are_all_reported_in_file_order() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policies(sources("version: [1\n", HEAD + RULES, "- a list\n"))
    assert [(issue.file, issue.field_path) for issue in caught.value.issues] == [
        ("layer0.yaml", "(yaml)"),
        ("layer2.yaml", "(top level)"),
    ]


def test_lint_findings_point_into_the_override_and_name_the_base_rule() -> None:
    [issue] = lint(load_policies([BASE, LAYERS / "shadowed_override.yaml"]))
    assert (issue.file, issue.line, issue.field_path, issue.severity) == (
        str(LAYERS / "shadowed_override.yaml"),
        2,
        "rules[0].id",
        "warning",
    )
    assert f"rule 'question' ({BASE}:21)" in issue.message


def test_check_and_test_commands_take_several_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(BASE), str(OVERRIDES)]) == 0
    out = capsys.readouterr().out
    assert f"{BASE} + {OVERRIDES}: ok" in out
    assert main(["policy", "test", str(BASE), str(OVERRIDES)]) == 0
    out = capsys.readouterr().out
    assert f"PASS {OVERRIDES}:27" in out and "2 examples, 2 passed, 0 failed" in out


def test_the_service_reads_a_list_of_files_from_settings(tmp_path: Path) -> None:
    config = tmp_path / "tactful.toml"
    config.write_text(f'[policy]\npath = ["{BASE}", "{OVERRIDES.name}"]\n', encoding="utf-8")
    (tmp_path / OVERRIDES.name).write_bytes(OVERRIDES.read_bytes())
    settings = load_settings(config)
    assert settings.policy.path == [BASE, tmp_path / OVERRIDES.name]
    active = PolicySource(settings.policy.path).current()
    assert active.brand_name == "Acme Europe"
    assert active.version == load_policies([BASE, OVERRIDES]).version
    assert active.source == f"{BASE} + {tmp_path / OVERRIDES.name}"
    assert policy_priority_keywords(settings) == ("warranty",)


def test_policy_paths() -> None:
    assert policy_paths(None) == policy_paths([]) != ()
    assert policy_paths(BASE) == (BASE,)
    assert policy_paths([BASE, OVERRIDES]) == (BASE, OVERRIDES)
