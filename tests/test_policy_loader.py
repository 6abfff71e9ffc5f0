"""Loader tests: every kind of policy mistake is reported with file, line, column and field path."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.loader import PolicyError, PolicyIssue, default_policy_path, load_policy, parse_policy
from tactful.domain import Platform
from tactful.errors import ConfigurationError

FIXTURES = Path(__file__).parent / "fixtures" / "policies"

# fixture, line, column, field path, message fragment, hint fragment (None: no hint expected)
BROKEN = [
    ("unknown_key.yaml", 10, 7, "rules[0].when.catgory", "unknown key 'catgory'", "did you mean 'category'?"),
    (
        "unknown_action.yaml",
        11,
        9,
        "rules[0].then[0].acknowlege",
        "unknown key",
        "did you mean 'acknowledge'?",
    ),
    (
        "undefined_template.yaml",
        12,
        22,
        "rules[0].then[1].acknowledge",
        "template 'ack_complaitn' is not defined",
        "did you mean 'ack_complaint'?",
    ),
    ("unknown_variable.yaml", 8, 9, "templates.ack.en[1]", "unknown variable '{firstname}'", "{first_name}"),
    ("attribute_access.yaml", 9, 9, "templates.ack.es[0]", "attribute or index access", "allowed variables"),
    ("format_spec.yaml", 6, 10, "templates.ack.en[0]", "format specs are not allowed", "{name}"),
    (
        "missing_default_language.yaml",
        9,
        5,
        "templates.ack_question",
        "no variants for the default language 'en'",
        "'en:'",
    ),
    ("duplicate_rule_ids.yaml", 13, 9, "rules[2].id", "duplicate rule id 'complaint'", "rules[0]"),
    ("reserved_rule_id.yaml", 5, 9, "rules[0].id", "reserved", "another id"),
    ("yaml_syntax.yaml", 6, 32, "(yaml)", "expected ',' or ']'", "close the [ list"),
    (
        "priority_out_of_range.yaml",
        9,
        21,
        "rules[0].then[0].queue.priority",
        "less than or equal to 100",
        "expected whole number 0..100",
    ),
    ("bad_category.yaml", 7, 28, "rules[0].when.category[1]", "Input should be", "did you mean 'complaint'?"),
    ("two_actions_in_one_item.yaml", 10, 9, "rules[0].then[0]", "exactly one of", "one action per list item"),
    ("duplicate_yaml_key.yaml", 9, 5, "rules[0].when", "key 'when' given twice", "merge them"),
    ("ignore_with_reply.yaml", 12, 17, "rules[0].then[1].ignore", "contradicts acknowledge", "remove one"),
    (
        "min_above_max.yaml",
        8,
        23,
        "rules[0].when.max_confidence",
        "min_confidence (0.8) must be below max_confidence",
        "scores >= 0.8",
    ),
    ("bad_platform_key.yaml", 6, 5, "brand.own_accounts.twitter", "invalid key 'twitter'", "x, facebook"),
    ("missing_brand.yaml", 1, 1, "brand", "missing required key 'brand'", "add brand:"),
    ("wrong_version.yaml", 1, 10, "version", "Input should be 1", "version 1"),
    ("not_a_mapping.yaml", 1, 1, "(top level)", "must be a YAML mapping, found list", "default.yaml"),
]


@pytest.mark.parametrize(("fixture", "line", "column", "path", "message", "hint"), BROKEN)
def test_broken_policy_reports_one_located_issue(
    fixture: str, line: int, column: int, path: str, message: str, hint: str | None
) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(FIXTURES / fixture)
    issues = caught.value.issues
    assert len(issues) == 1, str(caught.value)
    issue = issues[0]
    assert issue.file == str(FIXTURES / fixture)
    assert (issue.line, issue.column, issue.field_path) == (line, column, path)
    assert message in issue.message
    if hint is None:
        assert issue.hint is None
    else:
        assert issue.hint is not None and hint in issue.hint
    assert str(caught.value).startswith(f"{FIXTURES / fixture}:{line}:{column}: {path}: ")
    assert "Traceback" not in str(caught.value)


def test_policy_error_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        load_policy(FIXTURES / "unknown_key.yaml")


def test_issue_str_format() -> None:
    issue = PolicyIssue("p.yaml", 3, 5, "rules[0].id", "bad", "fix it")
    assert str(issue) == "p.yaml:3:5: rules[0].id: bad (fix it)"
    assert str(PolicyIssue("p.yaml", 1, 1, "version", "bad")) == "p.yaml:1:1: version: bad"


def test_every_issue_is_reported_in_file_order() -> None:
    text = b"""version: 1
brand:
  name: Acme
  colour: red
rules:
  - id: Bad Id
    then:
      - queue: {priority: -1, reason: "x"}
"""
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "many.yaml")
    found = [(issue.line, issue.field_path) for issue in caught.value.issues]
    assert found == [(4, "brand.colour"), (6, "rules[0].id"), (8, "rules[0].then[0].queue.priority")]
    assert caught.value.issues[1].hint is not None and "lowercase" in caught.value.issues[1].hint
    assert len(str(caught.value).splitlines()) == 3


def test_default_policy_loads_with_a_content_version() -> None:
    loaded = load_policy(default_policy_path())
    assert loaded.path == default_policy_path()
    assert len(loaded.version) == 12 and int(loaded.version, 16) >= 0
    assert loaded.policy.safety.global_sends_per_minute == 30


def test_version_changes_with_the_bytes() -> None:
    data = (FIXTURES / "minimal.yaml").read_bytes()
    first = parse_policy(data, "a.yaml").version
    assert parse_policy(data, "b.yaml").version == first
    assert parse_policy(data + b"\n# tuned\n", "a.yaml").version != first


def test_scalar_condition_is_accepted_as_a_list() -> None:
    loaded = load_policy(FIXTURES / "minimal.yaml")
    text = (FIXTURES / "minimal.yaml").read_text().replace("[complaint]", "complaint")
    reloaded = parse_policy(text.encode(), "scalar.yaml")
    assert "[complaint]" not in text
    assert reloaded.policy.rules[0].when.category == loaded.policy.rules[0].when.category == ("complaint",)


def test_unsafe_yaml_tags_are_refused_not_executed() -> None:
    text = b"version: 1\nbrand: !!python/object/apply:os.system ['true']\n"
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "evil.yaml")
    assert caught.value.issues[0].line == 2
    assert caught.value.issues[0].field_path == "(yaml)"


def test_empty_and_non_utf8_files() -> None:
    with pytest.raises(PolicyError, match="found an empty file"):
        parse_policy(b"", "empty.yaml")
    with pytest.raises(PolicyError) as caught:
        parse_policy(b"version: 1\nbrand:\n  name: \xff\n", "latin.yaml")
    assert (caught.value.issues[0].line, caught.value.issues[0].message) == (3, "not valid UTF-8")


def test_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "nope.yaml")


def test_yaml_booleans_where_text_is_expected_get_a_quoting_hint() -> None:
    text = b"""version: 1
brand: {name: Acme}
templates:
  ack:
    en: ["Hi"]
    no: ["Hei"]
rules:
  - id: a
    then:
      - ignore: no
"""
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "p.yaml")
    found = [(i.line, i.column, i.field_path) for i in caught.value.issues]
    assert found == [(6, 5, "templates.ack.no"), (10, 17, "rules[0].then[0].ignore")]
    assert all(i.hint is not None and "quote it" in i.hint for i in caught.value.issues)


def test_numeric_account_ids_are_read_as_text() -> None:
    text = b"""version: 1
brand:
  name: Acme
  own_accounts: {telegram: [123456789], x: ["@acme"]}
rules:
  - id: a
    then:
      - ignore: x
"""
    accounts = parse_policy(text, "p.yaml").policy.brand.own_accounts
    assert accounts == {Platform.TELEGRAM: ("123456789",), Platform.X: ("@acme",)}
