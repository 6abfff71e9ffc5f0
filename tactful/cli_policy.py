"""`tactful policy …`: check policy files for mistakes and run their examples.

`policy check FILE…` layers the files (later ones override earlier ones, as `[policy] path`
does), then prints every error and warning as `file:line:column: severity: field.path: message
(hint)`. Exit status: 1 when there is an error (or, with `--strict`, a warning), else 0.

`policy test FILE…` classifies each example of the layered policy with the moderator `tactful
run` would use and decides it with the engine, printing PASS or FAIL per example; a failure
shows the verdict, its explanation and the rule that decided. Exit status 1 when an example
fails, the policy has errors, or there are no examples.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from policies.issues import PolicyError, PolicyIssue, sort_issues

if TYPE_CHECKING:
    from policies.examples import ExampleResult
    from policies.loader import LoadedPolicy

#: Longest part of an example's text shown in a report line.
SHOWN_TEXT_CHARS = 60


def cmd_policy_check(args: argparse.Namespace) -> int:
    """Print every error and warning of the layered policy files; 1 when any error (or warning with --strict)."""
    from policies.lint import lint
    from policies.loader import load_policies

    files = [str(path) for path in args.files]
    loaded: LoadedPolicy | None = None
    try:
        loaded = load_policies(args.files, examples=True)
        issues = lint(loaded)
    except PolicyError as exc:
        issues = exc.issues
    issues = sort_issues(issues, files)
    for issue in issues:
        print(issue.describe())
    errors = sum(issue.severity == "error" for issue in issues)
    warnings = len(issues) - errors
    failed = errors > 0 or (args.strict and warnings > 0)
    print(_check_summary(files, loaded, errors, warnings, failed))
    return 1 if failed else 0


def _check_summary(
    files: list[str], loaded: LoadedPolicy | None, errors: int, warnings: int, failed: bool
) -> str:
    shown = " + ".join(files)
    counts = f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
    if failed and errors == 0:
        return f"{shown}: {counts} (--strict: warnings fail)"
    if failed or loaded is None:
        return f"{shown}: {counts}"
    policy = loaded.policy
    return (
        f"{shown}: ok, {counts} (version {loaded.version}: {len(policy.rules)} rules, "
        f"{len(policy.templates)} templates, {len(policy.examples)} examples)"
    )


def cmd_policy_test(args: argparse.Namespace) -> int:
    """Run the examples of the layered policy files; 1 when one fails (or there are none)."""
    from policies.examples import run_examples
    from policies.loader import load_policies
    from tactful.scoring import policy_moderator

    try:
        loaded = load_policies(args.files, examples=True)
    except PolicyError as exc:
        _print_issues(exc.issues)
        print("policy test: the policy has errors (see above; tactful policy check lists them all)")
        return 1
    if not loaded.policy.examples:
        print("policy test: no examples to run: add an examples: section (see docs/policy.md)")
        return 1
    moderator = policy_moderator(loaded.policy.keywords.priority, args.model)
    results = run_examples(loaded, moderator)
    for result in results:
        if result.passed and args.quiet:
            continue
        print(_report(loaded, result))
    failed = sum(not result.passed for result in results)
    print(
        f"policy test: {len(results)} examples, {len(results) - failed} passed, {failed} failed "
        f"(model {moderator.model}, policy version {loaded.version})"
    )
    return 1 if failed else 0


def _print_issues(issues: list[PolicyIssue]) -> None:
    for issue in issues:
        print(issue.describe())


def _report(loaded: LoadedPolicy, result: ExampleResult) -> str:
    """One example's PASS line, or its FAIL block with the verdict, explanation and deciding rule."""
    file, line, _column, path = loaded.locator.where(("examples", result.index))
    example = result.example
    label = example.name or json.dumps(_shorten(example.text), ensure_ascii=False)
    verdict, decision = result.verdict, result.decision
    outcome = f"{verdict.category.value}/{verdict.language} -> rule {decision.rule_id}: "
    outcome += ", ".join(result.action_kinds) or "no actions"
    if result.passed:
        return f"PASS {file}:{line} {label}: {outcome}"
    lines = [f"FAIL {file}:{line} {path} {label}"]
    lines += [f"  {failure}" for failure in result.failures]
    lines.append(
        f"  verdict: {verdict.category.value}, confidence {verdict.confidence:.2f}, complaint "
        f"{verdict.complaint:.2f}, toxicity {verdict.toxicity:.2f}, language {verdict.language} "
        f"({verdict.model})"
    )
    lines.append(f"  explanation: {verdict.explanation}")
    lines.append(f"  decision: {decision.explanation} -> {', '.join(result.action_kinds) or 'no actions'}")
    rule_ids = [rule.id for rule in loaded.policy.rules]
    if decision.rule_id in rule_ids:
        rule_file, rule_line, _col, rule_path = loaded.locator.where(
            ("rules", rule_ids.index(decision.rule_id))
        )
        lines.append(f"  deciding rule: {decision.rule_id} at {rule_file}:{rule_line} ({rule_path})")
    else:
        lines.append(f"  deciding rule: {decision.rule_id} (no rule matched)")
    return "\n".join(lines)


def _shorten(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SHOWN_TEXT_CHARS else flat[: SHOWN_TEXT_CHARS - 1] + "…"


def add_policy_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `tactful policy check` and `tactful policy test` to the command line."""
    policy = sub.add_parser("policy", help="check conduct policy files and run their examples")
    commands = policy.add_subparsers(dest="policy_command", required=True)
    files_help = "policy files, layered in order: later files override earlier ones"

    p = commands.add_parser("check", help="list every error and warning, with file, line and a hint")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help=files_help)
    p.add_argument("--strict", action="store_true", help="treat warnings as errors (exit 1)")
    p.set_defaults(func=cmd_policy_check)

    p = commands.add_parser("test", help="classify and decide every example, report pass or fail")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help=files_help)
    p.add_argument(
        "--model", type=Path, metavar="DIR", help="use the trained models in DIR (see tactful train)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only failures and the summary")
    p.set_defaults(func=cmd_policy_test)
