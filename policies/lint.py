"""Checks `tactful policy check` runs on a policy that loads: dead rules and codes (errors), and warnings.

Errors here do not stop `tactful run` (the policy is coherent), but something in it can never
take effect: a language code the detector never reports, a rule whose platform and channel
cannot meet. Warnings point at things that are probably mistakes:

- an unreachable rule. Rule B is unreachable when, for every category B can match (its
  `category` list, or all six), an earlier rule A matches that category and every other
  condition of A is implied by B's, so every message B matches is taken by A first. A's
  condition is implied when A does not have it, or: a list (platform, channel, language) holds
  every value of B's list (a language also by its base code: `pt` covers `pt-br`); a `min_*`
  bound is at most B's (or 0); a `max_*` bound is at least B's; every keyword of B starts with
  one of A's (`refund` covers `refunded`); `from_own_account`/`in_business_hours`/`is_private` equal B's (B's
  channels imply `is_private`: only `direct` is private). When only some of the categories B
  lists are taken, the warning names them (a rule without a category list is meant to catch
  what earlier rules leave, so it is only reported when nothing reaches it). Coverage by
  several earlier rules together within one category is not detected: every warning is real,
  but not every unreachable rule is found;
- a regional language code (`pt-br`): the detector reports base codes, so it never matches;
- keywords given twice, one letter long, or written like a regular expression (they are words);
- a template no rule uses;
- safety limits that defeat themselves: a daily cap of 0 acknowledgements while rules
  acknowledge, or more sends per minute than platforms let an account post.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from moderation.verdict import Category
from policies.issues import PolicyIssue, Severity
from policies.languages import ISO_639_1, UNDETERMINED, base_code, suggest
from policies.loader import LoadedPolicy, PolicyLocator
from policies.schema import PLATFORM_CHANNELS, Loc, Policy, Rule, When
from tactful.domain import Channel, Platform

#: Above this many sends per minute (5 a second) the platforms throttle or suspend an account.
SANE_SENDS_PER_MINUTE = 300

_PATTERN_MARKS = ("\\", "|", ".*", "^", "$", "[", "]", "(?", "{")
_SCORES = ("heat", "toxicity", "complaint", "confidence")


@dataclass(frozen=True, slots=True)
class _Finding:
    loc: Loc
    message: str
    hint: str | None
    severity: Severity
    on_key: bool = False


def lint(loaded: LoadedPolicy) -> list[PolicyIssue]:
    """Return the lint errors and warnings of a loaded policy, positioned in its files."""
    policy = loaded.policy
    findings = [
        *_language_findings(policy),
        *_impossible_rules(policy),
        *_unreachable_rules(policy, loaded.locator),
        *_keyword_findings(policy),
        *_template_findings(policy),
        *_safety_findings(policy),
    ]
    return [
        loaded.locator.issue(item.loc, item.message, item.hint, on_key=item.on_key, severity=item.severity)
        for item in findings
    ]


def _language_findings(policy: Policy) -> Iterator[_Finding]:
    yield from _code(("default_language",), policy.default_language, conditions=False)
    for index, rule in enumerate(policy.rules):
        for position, code in enumerate(rule.when.language or ()):
            yield from _code(("rules", index, "when", "language", position), code, conditions=True)
    for template_id, languages in policy.templates.items():
        for code in languages:
            yield from _code(("templates", template_id, code), code, conditions=False, on_key=True)
    for index, example in enumerate(policy.examples):
        if example.language_hint is not None:
            yield from _code(("examples", index, "language_hint"), example.language_hint, conditions=True)
        if example.expect.language is not None:
            loc = ("examples", index, "expect", "language")
            yield from _code(loc, example.expect.language, conditions=True)


def _code(loc: Loc, code: str, *, conditions: bool, on_key: bool = False) -> Iterator[_Finding]:
    """Check one language code: ISO 639-1 (or `und` in conditions), and not regional."""
    base = base_code(code)
    if base == UNDETERMINED and conditions and base == code:
        return
    if base not in ISO_639_1:
        close = suggest(code)
        hint = f"did you mean '{close}'?" if close else "use a two-letter ISO 639-1 code such as en, es, zh"
        yield _Finding(loc, f"'{code}' is not an ISO 639-1 language code", hint, "error", on_key)
    elif base != code:
        yield _Finding(
            loc,
            f"'{code}' never matches: the language detector reports base codes such as '{base}'",
            f"write '{base}'",
            "warning",
            on_key,
        )


def _impossible_rules(policy: Policy) -> Iterator[_Finding]:
    """Rules whose platform, channel and privacy conditions cannot all hold for one message."""
    for index, rule in enumerate(policy.rules):
        when = rule.when
        loc: Loc = ("rules", index, "when")
        if when.platform is not None and when.channel is not None:
            possible = {channel for platform in when.platform for channel in PLATFORM_CHANNELS[platform]}
            if not possible & set(when.channel):
                platforms = ", ".join(p.value for p in when.platform)
                channels = ", ".join(c.value for c in when.channel)
                yield _Finding(
                    (*loc, "channel"),
                    f"rule '{rule.id}' can never match: {platforms} has no {channels} channel",
                    "channels: " + "; ".join(f"{p.value}: {_channels(p)}" for p in when.platform),
                    "error",
                )
        if when.is_private is not None and when.channel is not None:
            private = Channel.DIRECT in when.channel
            public = any(channel is not Channel.DIRECT for channel in when.channel)
            if (when.is_private and not private) or (not when.is_private and not public):
                yield _Finding(
                    (*loc, "is_private"),
                    f"rule '{rule.id}' can never match: only the direct channel is private",
                    "drop is_private or fix the channel list",
                    "error",
                )


def _channels(platform: Platform) -> str:
    return ", ".join(sorted(c.value for c in PLATFORM_CHANNELS[platform]))


def _unreachable_rules(policy: Policy, locator: PolicyLocator) -> Iterator[_Finding]:
    rules = policy.rules
    for later_index, later in enumerate(rules):
        categories = later.when.category or tuple(Category)
        takers: dict[Category, Rule] = {}
        for category in categories:
            taker = next((rule for rule in rules[:later_index] if _covers(rule, later, category)), None)
            if taker is not None:
                takers[category] = taker
        if not takers:
            continue
        names = sorted({f"'{rule.id}' ({_place(locator, policy, rule)})" for rule in takers.values()})
        if len(takers) == len(categories):
            yield _Finding(
                ("rules", later_index, "id"),
                f"rule '{later.id}' is unreachable: every message it matches is matched first by rule "
                + " or ".join(names),
                "move it above, narrow the earlier rule, or remove it",
                "warning",
            )
        elif later.when.category is not None:  # a rule for any category normally comes after others
            taken = ", ".join(category.value for category in categories if category in takers)
            yield _Finding(
                ("rules", later_index, "when", "category"),
                f"rule '{later.id}' never sees {taken} messages: rule "
                + " or ".join(names)
                + " takes them first",
                "remove those categories here, or narrow the earlier rule",
                "warning",
            )


def _place(locator: PolicyLocator, policy: Policy, rule: Rule) -> str:
    file, line, _column, _path = locator.where(("rules", policy.rules.index(rule)))
    return f"{file}:{line}"


def _covers(earlier: Rule, later: Rule, category: Category) -> bool:
    """Whether every message of `category` that `later` matches is matched by `earlier` (see module doc)."""
    a, b = earlier.when, later.when
    if a.category is not None and category not in a.category:
        return False
    if not (_list_covers(a.platform, b.platform) and _list_covers(a.channel, b.channel)):
        return False
    if a.language is not None and (
        b.language is None
        or not all(code in a.language or base_code(code) in a.language for code in b.language)
    ):
        return False
    if not all(_bounds_cover(a, b, score) for score in _SCORES):
        return False
    if a.keywords_any is not None and (
        b.keywords_any is None
        or not all(
            any(word.casefold().startswith(k.casefold()) for k in a.keywords_any) for word in b.keywords_any
        )
    ):
        return False
    if a.from_own_account is not None and a.from_own_account != b.from_own_account:
        return False
    if a.in_business_hours is not None and a.in_business_hours != b.in_business_hours:
        return False
    return a.is_private is None or a.is_private == _privacy(b)


def _list_covers(a: Sequence[object] | None, b: Sequence[object] | None) -> bool:
    return a is None or (b is not None and set(b) <= set(a))


def _bounds_cover(a: When, b: When, score: str) -> bool:
    a_min, b_min = getattr(a, f"min_{score}"), getattr(b, f"min_{score}")
    a_max, b_max = getattr(a, f"max_{score}"), getattr(b, f"max_{score}")
    low = not a_min or (b_min is not None and b_min >= a_min)
    high = a_max is None or (b_max is not None and b_max <= a_max)
    return low and high


def _privacy(when: When) -> bool | None:
    """Return whether every message the conditions match is private (True), public (False), or either."""
    if when.is_private is not None:
        return when.is_private
    if when.channel is None:
        return None
    if all(channel is Channel.DIRECT for channel in when.channel):
        return True
    if all(channel is not Channel.DIRECT for channel in when.channel):
        return False
    return None


def _keyword_findings(policy: Policy) -> Iterator[_Finding]:
    yield from _keywords(("keywords", "priority"), policy.keywords.priority)
    for index, rule in enumerate(policy.rules):
        if rule.when.keywords_any:
            yield from _keywords(("rules", index, "when", "keywords_any"), rule.when.keywords_any)


def _keywords(loc: Loc, words: Sequence[str]) -> Iterator[_Finding]:
    seen: dict[str, int] = {}
    for position, word in enumerate(words):
        here: Loc = (*loc, position)
        folded = " ".join(word.casefold().split())
        if folded in seen:
            yield _Finding(here, f"keyword '{word}' is listed twice", f"first at [{seen[folded]}]", "warning")
            continue
        seen[folded] = position
        if len(folded) == 1:
            yield _Finding(
                here,
                f"keyword '{word}' matches every word that starts with it",
                "use a whole word",
                "warning",
            )
        elif any(mark in word for mark in _PATTERN_MARKS):
            yield _Finding(
                here,
                f"keyword '{word}' looks like a regular expression, but keywords are plain words "
                "(matched at a word start, case-insensitively)",
                "list each word separately; 'refund' already matches refunded and refunds",
                "warning",
            )


def _template_findings(policy: Policy) -> Iterator[_Finding]:
    used: set[str] = set()
    for rule in policy.rules:
        for action in rule.then:
            if action.acknowledge is not None:
                used.add(action.acknowledge)
            if action.move_to_private is not None:
                used |= {action.move_to_private.template, action.move_to_private.fallback}
    for template_id in policy.templates:
        if template_id not in used:
            yield _Finding(
                ("templates", template_id),
                f"template '{template_id}' is not used by any rule",
                "use it in an acknowledge or move_to_private action, or remove it",
                "warning",
                on_key=True,
            )


def _safety_findings(policy: Policy) -> Iterator[_Finding]:
    safety = policy.safety
    acknowledging = [
        rule.id for rule in policy.rules if any(action.acknowledge is not None for action in rule.then)
    ]
    if safety.max_acks_per_author_per_day == 0 and acknowledging:
        yield _Finding(
            ("safety", "max_acks_per_author_per_day"),
            "0 means no acknowledgement is ever sent, yet rule "
            + ", ".join(f"'{rule_id}'" for rule_id in acknowledging)
            + " acknowledges",
            "raise the cap, or use queue actions instead of acknowledge",
            "warning",
        )
    if safety.global_sends_per_minute > SANE_SENDS_PER_MINUTE:
        yield _Finding(
            ("safety", "global_sends_per_minute"),
            f"{safety.global_sends_per_minute} sends a minute is more than platforms let one account post "
            f"(over {SANE_SENDS_PER_MINUTE // 60} a second); expect rate limits or a suspended account",
            f"keep it at {SANE_SENDS_PER_MINUTE} or below; 30 is a safe start",
            "warning",
        )
