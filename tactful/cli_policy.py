"""`tactful policy …`: check policy files for mistakes and run their examples.

`policy check FILE…` layers the files (later ones override earlier ones, as `[policy] path`
does), then prints every error and warning as `file:line:column: severity: field.path: message
(hint)`. Exit status: 1 when there is an error (or, with `--strict`, a warning), else 0.

`policy test FILE…` classifies each example of the layered policy with the moderator `tactful
run` would use and decides it with the engine, printing PASS or FAIL per example; a failure
shows the verdict, its explanation and the rule that decided. Exit status 1 when an example
fails, the policy has errors, or there are no examples.

`policy replay FILE… [--since 7d]` re-decides the stored history under the layered files without
sending anything and reports what would change (see `tactful.replay`); the report is stored for
the dashboard's policy page. Exit status 1 when the files have errors (nothing is replayed).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from policies.issues import PolicyError, PolicyIssue, sort_issues

if TYPE_CHECKING:
    from policies.examples import ExampleResult
    from policies.loader import LoadedPolicy

#: Longest part of an example's text shown in a report line.
SHOWN_TEXT_CHARS = 60
_AGO = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


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


def since_value(value: str, now: datetime | None = None) -> datetime:
    """Parse --since: a span back from now (`30m`, `12h`, `7d`, `2w`) or an ISO date (UTC unless it says)."""
    found = _AGO.match(value.strip().lower())
    if found is not None:
        moment = now or datetime.now(UTC)
        return moment - timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a span or an ISO date: {value!r} (e.g. 7d, 12h or 2026-01-05)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _who(args: argparse.Namespace) -> str:
    """--by, else the OS user name."""
    if args.by:
        return str(args.by)
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def cmd_policy_replay(args: argparse.Namespace) -> int:
    """Re-decide stored history under the layered files, send nothing, report and store what would change."""
    from policies.lint import lint
    from policies.loader import load_policies
    from storage.db import make_engine
    from storage.migrate import upgrade
    from storage.replays import save_replay
    from tactful.clock import SystemClock
    from tactful.platforms import private_routes
    from tactful.replay import replay_policy
    from tactful.replay_report import format_report
    from tactful.settings import load_settings

    try:
        loaded = load_policies(args.files, examples=True)
        issues = lint(loaded)
    except PolicyError as exc:
        issues = exc.issues
    errors = [
        issue for issue in sort_issues(issues, [str(f) for f in args.files]) if issue.severity == "error"
    ]
    if errors:
        _print_issues(errors)
        print(
            f"policy replay: {len(errors)} error{'s' * (len(errors) != 1)} in the policy; nothing was "
            "replayed (tactful policy check lists every issue)",
            file=sys.stderr,
        )
        return 1
    settings = load_settings(args.config)
    engine = make_engine(settings.storage.url)
    try:
        upgrade(engine)
        result = replay_policy(engine, loaded, since=args.since, private_routes=private_routes(settings))
        replay_id = save_replay(
            engine,
            now=SystemClock().now(),
            policy_version=loaded.version,
            source=loaded.source,
            since=args.since,
            summary=result.report,
            actor=_who(args),
        )
    finally:
        engine.dispose()
    if args.json:
        json.dump({"id": replay_id, **result.report}, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_report(result.report, args.limit))
        print(f"\nstored as replay #{replay_id} (the dashboard's policy page shows it)")
    return 0


def add_policy_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `tactful policy check`, `policy test` and `policy replay` to the command line."""
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

    p = commands.add_parser(
        "replay", help="re-decide stored history under these files (sends nothing); report what changes"
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help=files_help)
    p.add_argument(
        "--since",
        type=since_value,
        metavar="SPAN|DATE",
        help="only messages created since then: 30m, 12h, 7d, 2w or an ISO date (default: all)",
    )
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.add_argument(
        "--limit", type=int, default=20, metavar="N", help="messages listed per section (default 20)"
    )
    p.add_argument("--by", metavar="NAME", help="who ran it, for the record (default: the OS user)")
    p.set_defaults(func=cmd_policy_replay)
