"""`tactful policy check`: a corpus of broken policies, each reported once with its place, a message and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.issues import PolicyError, PolicyIssue
from policies.lint import lint
from policies.loader import default_policy_path, load_policy
from tactful.cli import main

BROKEN = Path(__file__).parent / "fixtures" / "policy" / "broken"

# file, severity, line, column, field path, message fragment, hint fragment
CORPUS = [
    (
        "unknown_key.yaml",
        "error",
        7,
        7,
        "rules[0].when.catgory",
        "unknown key 'catgory'",
        "did you mean 'category'?",
    ),
    ("unknown_top_level_key.yaml", "error", 8, 1, "safty", "unknown key 'safty'", "did you mean 'safety'?"),
    (
        "wrong_type.yaml",
        "error",
        7,
        27,
        "rules[0].then[0].queue.priority",
        "valid integer",
        "whole number 0..100",
    ),
    ("out_of_range.yaml", "error", 6, 22, "rules[0].when.min_heat", "less than or equal to 1", "number 0..1"),
    (
        "unknown_template.yaml",
        "error",
        11,
        22,
        "rules[0].then[0].acknowledge",
        "template 'ack_complaitn' is not defined",
        "did you mean 'ack_complaint'?",
    ),
    (
        "unknown_variable.yaml",
        "error",
        8,
        9,
        "templates.ack.en[1]",
        "unknown variable '{firstname}'",
        "{first_name}",
    ),
    (
        "missing_default_language.yaml",
        "error",
        7,
        5,
        "templates.ack",
        "no variants for the default language 'en'",
        "'en:'",
    ),
    ("duplicate_rule_ids.yaml", "error", 9, 9, "rules[1].id", "duplicate rule id 'complaint'", "rules[0]"),
    (
        "unreachable_rule.yaml",
        "warning",
        9,
        9,
        "rules[1].id",
        "'refund-complaint' is unreachable",
        "move it above",
    ),
    (
        "partly_unreachable_rule.yaml",
        "warning",
        10,
        22,
        "rules[1].when.category",
        "never sees complaint messages: rule 'public-complaint'",
        "remove those categories",
    ),
    (
        "min_not_below_max.yaml",
        "error",
        6,
        45,
        "rules[0].when.max_toxicity",
        "min_toxicity (0.8) must be below max_toxicity (0.8)",
        "scores >= 0.8",
    ),
    ("empty_category.yaml", "error", 7, 17, "rules[0].when.category", "empty list", "at least one value"),
    ("max_zero.yaml", "error", 7, 17, "rules[0].when.max_heat", "max_heat 0 can never hold", "exclusive"),
    (
        "platform_channel.yaml",
        "error",
        8,
        16,
        "rules[0].when.channel",
        "x has no comment channel",
        "mention, search",
    ),
    ("private_public.yaml", "error", 8, 19, "rules[0].when.is_private", "can never match", "channel list"),
    ("yaml_syntax.yaml", "error", 6, 42, "(yaml)", "expected ',' or ']'", "close the [ list"),
    ("tab_indent.yaml", "error", 3, 1, "(yaml)", "'\\t'", "indent with spaces"),
    ("unsafe_tag.yaml", "error", 2, 8, "(yaml)", "python/object/apply", "not allowed"),
    ("not_utf8.yaml", "error", 3, 1, "(file)", "not valid UTF-8", "UTF-8"),
    ("empty.yaml", "error", 1, 1, "(top level)", "found an empty file", "default.yaml"),
    ("comments_only.yaml", "error", 1, 1, "(top level)", "found an empty file", "default.yaml"),
    (
        "top_level_list.yaml",
        "error",
        1,
        1,
        "(top level)",
        "must be a YAML mapping, found list",
        "default.yaml",
    ),
    ("bad_language_code.yaml", "error", 7, 5, "templates.ack.eng", "not an ISO 639-1 language code", "'en'"),
    ("language_pattern.yaml", "error", 6, 23, "rules[0].when.language[0]", "should match pattern", "'es'"),
    (
        "regional_language.yaml",
        "warning",
        6,
        23,
        "rules[0].when.language[0]",
        "'pt-br' never matches",
        "'pt'",
    ),
    (
        "keyword_pattern.yaml",
        "warning",
        5,
        22,
        "keywords.priority[1]",
        "looks like a regular expression",
        "each word",
    ),
    ("duplicate_keyword.yaml", "warning", 7, 39, "rules[0].when.keywords_any[2]", "listed twice", "[0]"),
    (
        "safety_negative.yaml",
        "error",
        9,
        32,
        "safety.max_acks_per_author_per_day",
        "greater than or equal to 0",
        ">= 0",
    ),
    ("safety_bool.yaml", "error", 9, 23, "safety.one_ack_per_thread", "valid boolean", "true or false"),
    (
        "safety_zero_acks.yaml",
        "warning",
        13,
        32,
        "safety.max_acks_per_author_per_day",
        "no acknowledgement is ever sent",
        "raise the cap",
    ),
    (
        "safety_send_rate.yaml",
        "warning",
        9,
        28,
        "safety.global_sends_per_minute",
        "5000 sends a minute",
        "300",
    ),
    ("unused_template.yaml", "warning", 5, 3, "templates.thanks", "not used by any rule", "remove it"),
    (
        "bad_category.yaml",
        "error",
        6,
        23,
        "rules[0].when.category[0]",
        "'complaint', 'question'",
        "did you mean 'complaint'?",
    ),
    (
        "conflicting_actions.yaml",
        "error",
        12,
        17,
        "rules[0].then[1].ignore",
        "contradicts acknowledge",
        "remove one",
    ),
    ("duplicate_yaml_key.yaml", "error", 7, 5, "rules[0].when", "key 'when' given twice", "merge them"),
    ("missing_rules.yaml", "error", 1, 1, "rules", "missing required key 'rules'", "at least one rule"),
    ("wrong_version.yaml", "error", 1, 10, "version", "Input should be 1", "version 1"),
    ("bool_as_text.yaml", "error", 7, 17, "rules[0].then[0].ignore", "valid string", "quote it"),
    (
        "example_unknown_rule.yaml",
        "error",
        11,
        20,
        "examples[0].expect.rule",
        "expects rule 'complant'",
        "did you mean 'complaint'?",
    ),
    ("example_empty_expect.yaml", "error", 10, 13, "examples[0].expect", "at least one of", "expect: {"),
    ("example_bad_action.yaml", "error", 10, 37, "examples[0].expect.actions[1]", "'acknowledge'", "'queue'"),
    (
        "example_channel.yaml",
        "error",
        11,
        14,
        "examples[0].channel",
        "telegram has no mention channel",
        "group",
    ),
    (
        "position_unknown_rule.yaml",
        "error",
        10,
        12,
        "rules[1].after",
        "no rule 'complant' to place this rule after",
        "did you mean 'complaint'?",
    ),
]


def run_check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main(["policy", "check", *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.out.splitlines()


def test_the_corpus_covers_every_file_and_enough_kinds() -> None:
    assert {row[0] for row in CORPUS} == {path.name for path in BROKEN.glob("*.yaml")}
    assert len(CORPUS) >= 15


def issues_of(path: Path) -> list[PolicyIssue]:
    """What `policy check` reports: load errors, else the lint findings."""
    try:
        return lint(load_policy(path, examples=True))
    except PolicyError as exc:
        return exc.issues


@pytest.mark.parametrize(("name", "severity", "line", "column", "path", "message", "hint"), CORPUS)
def test_each_mistake_is_reported_once_located_with_a_hint(
    capsys: pytest.CaptureFixture[str],
    name: str,
    severity: str,
    line: int,
    column: int,
    path: str,
    message: str,
    hint: str,
) -> None:
    file = BROKEN / name
    issues = issues_of(file)
    assert len(issues) == 1, [str(issue) for issue in issues]
    issue = issues[0]
    assert (issue.file, issue.severity, issue.line, issue.column, issue.field_path) == (
        str(file),
        severity,
        line,
        column,
        path,
    )
    assert message in issue.message
    assert issue.hint is not None and hint in issue.hint
    code, out = run_check(capsys, str(file))
    assert out == [issue.describe(), out[-1]]
    assert out[0].startswith(f"{file}:{line}:{column}: {severity}: {path}: ")
    assert out[-1].startswith(f"{file}: ")
    assert code == (1 if severity == "error" else 0)
    strict_code, _ = run_check(capsys, "--strict", str(file))
    assert strict_code == 1


def test_runtime_load_accepts_what_only_lint_or_examples_reject() -> None:
    """Lint findings and broken examples fail `check` but do not stop `tactful run`."""
    for name in ("platform_channel.yaml", "bad_language_code.yaml", "example_unknown_rule.yaml"):
        assert load_policy(BROKEN / name).policy.rules
    with pytest.raises(PolicyError):
        load_policy(BROKEN / "example_unknown_rule.yaml", examples=True)


def test_the_default_policy_is_clean_even_when_strict(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_check(capsys, "--strict", str(default_policy_path()))
    assert code == 0
    assert len(out) == 1  # only the summary
    assert ": ok, 0 errors, 0 warnings" in out[0] and "examples)" in out[0]


def test_every_error_of_a_file_is_listed_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "many.yaml"
    policy.write_text(
        "version: 1\nbrand: {name: Acme, colour: red}\nrules:\n  - id: a\n    then:\n"
        "      - queue: {priority: 500, reason: x}\n      - ignore: x\n      - hide: y\n",
        encoding="utf-8",
    )
    code, out = run_check(capsys, str(policy))
    assert code == 1
    assert [line.split(": ")[0] for line in out[:-1]] == [f"{policy}:2:21", f"{policy}:6:27"]
    assert out[-1] == f"{policy}: 2 errors, 0 warnings"


def test_an_unreadable_file_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run_check(capsys, str(tmp_path / "missing.yaml"))
    assert code == 1
    assert out[0].startswith(f"{tmp_path / 'missing.yaml'}:1:1: error: (file): cannot read")
