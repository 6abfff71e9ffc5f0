"""Conduct policy schema (version 1): the typed shape of a policy YAML file and its cross-field checks."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from moderation.verdict import Category
from policies.hours import parse_range, week_overlaps
from policies.templates import template_problems
from tactful.domain import Channel, Platform

#: Rule id the engine uses when no rule matches; a policy may not define it.
FALLBACK_RULE_ID = "fallback"

RuleId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
TemplateId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")]
Score = Annotated[float, Field(ge=0.0, le=1.0)]
Priority = Annotated[int, Field(ge=0, le=100)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def _listify(value: Any) -> Any:
    """Accept a single scalar where a list is expected (`category: complaint`)."""
    if isinstance(value, str | int | float | bool):
        return [value]
    return value


def _id_to_str(value: Any) -> Any:
    """Accept numeric ids (Telegram and Facebook ids are numbers in YAML) as strings."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


AccountId = Annotated[
    str, BeforeValidator(_id_to_str), StringConstraints(strip_whitespace=True, min_length=1)
]

#: Lets a condition list be written as a single value (`category: complaint`).
AsList = BeforeValidator(_listify)


class _Model(BaseModel):
    """Base for every policy section: unknown keys are errors and values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Brand(_Model):
    """Who the policy speaks for."""

    name: Text = Field(description="Brand name used for the {brand} template variable.")
    own_accounts: dict[Platform, tuple[AccountId, ...]] = Field(
        default_factory=dict,
        description="Per platform, the brand's own usernames or ids; messages from them are never answered.",
    )


class Keywords(_Model):
    """Words that make a message more urgent for the human queue."""

    priority: tuple[Text, ...] = Field(
        default=(), description="Case-insensitive words or word prefixes (refund matches refunded)."
    )
    priority_boost: Priority = Field(
        default=15, description="Added to every queue priority (capped at 100) when a priority word appears."
    )


class When(_Model):
    """Conditions of a rule; every condition given must hold. Lists match any of their values.

    `min_*` bounds are inclusive (score >= bound), `max_*` bounds exclusive (score < bound).
    """

    category: Annotated[tuple[Category, ...] | None, AsList] = Field(
        default=None, description="Verdict category is one of these."
    )
    platform: Annotated[tuple[Platform, ...] | None, AsList] = Field(
        default=None, description="Message platform is one of these."
    )
    channel: Annotated[tuple[Channel, ...] | None, AsList] = Field(
        default=None, description="Message channel is one of these."
    )
    language: Annotated[tuple[LanguageCode, ...] | None, AsList] = Field(
        default=None, description="Detected language is one of these."
    )
    min_heat: Score | None = Field(default=None, description="Thread heat is at least this.")
    max_heat: Score | None = Field(default=None, description="Thread heat is below this.")
    min_toxicity: Score | None = Field(default=None, description="Toxicity is at least this.")
    max_toxicity: Score | None = Field(default=None, description="Toxicity is below this.")
    min_complaint: Score | None = Field(default=None, description="Complaint signal is at least this.")
    max_complaint: Score | None = Field(default=None, description="Complaint signal is below this.")
    min_confidence: Score | None = Field(default=None, description="Classifier confidence is at least this.")
    max_confidence: Score | None = Field(default=None, description="Classifier confidence is below this.")
    keywords_any: Annotated[tuple[Text, ...] | None, AsList] = Field(
        default=None, description="Text contains one of these words or word prefixes (case-insensitive)."
    )
    from_own_account: bool | None = Field(default=None, description="Author is (or is not) a brand account.")
    is_private: bool | None = Field(default=None, description="Message is (or is not) in a private chat.")
    in_business_hours: bool | None = Field(
        default=None, description="The message's channel is (or is not) inside business hours now."
    )

    # Conditions that can never hold (empty lists, min >= max, max 0) are reported by semantic_issues.


class MoveToPrivateSpec(_Model):
    """Move the conversation to a private channel."""

    template: TemplateId = Field(description="Template for the private message.")
    fallback: TemplateId = Field(description="Template for a public invitation (may use {dm_link}).")


class QueueSpec(_Model):
    """Put the message in front of a person."""

    priority: Priority = Field(description="0..100, higher is more urgent.")
    reason: Text = Field(description="What the person should do; shown in the queue.")


ACTION_KINDS = ("acknowledge", "move_to_private", "hide", "ignore", "queue")
SEND_KINDS = frozenset({"acknowledge", "move_to_private"})


class ActionSpec(_Model):
    """One action of a rule: a mapping with exactly one of the action keys."""

    acknowledge: TemplateId | None = Field(default=None, description="Reply with a variant of this template.")
    move_to_private: MoveToPrivateSpec | None = Field(default=None, description="Take the thread private.")
    hide: Text | None = Field(default=None, description="Hide the message; the value is the reason.")
    ignore: Text | None = Field(default=None, description="Deliberately do nothing; the value is the reason.")
    queue: QueueSpec | None = Field(default=None, description="Queue for a person.")

    @model_validator(mode="after")
    def _exactly_one(self) -> ActionSpec:
        given = [kind for kind in ACTION_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            found = ", ".join(given) or "none"
            raise ValueError(
                f"an action needs exactly one of {', '.join(ACTION_KINDS)} (found {found}); "
                "put each action in its own list item"
            )
        return self

    @property
    def kind(self) -> str:
        """Return which action this is (one of ACTION_KINDS)."""
        return next(kind for kind in ACTION_KINDS if getattr(self, kind) is not None)


class Rule(_Model):
    """An ordered rule: the first rule whose conditions all hold decides the actions."""

    id: RuleId = Field(description="Unique id, reported in every decision (lowercase, digits, - and _).")
    description: str = Field(default="", description="Free text for the people who maintain the policy.")
    when: When = Field(default_factory=When, description="Conditions; empty matches every message.")
    then: tuple[ActionSpec, ...] = Field(min_length=1, description="Actions, in order.")


class Safety(_Model):
    """Limits that turn automatic sends into queue items instead of silently dropping them."""

    one_ack_per_thread: bool = Field(default=True, description="At most one acknowledgement per thread.")
    max_acks_per_author_per_day: int = Field(
        default=3, ge=0, description="Acknowledgements one author may receive per day."
    )
    global_sends_per_minute: int = Field(
        default=30,
        ge=1,
        description="Ceiling on automated sends (hides excepted) in any 60 seconds, over all channels "
        "and every process sharing the database.",
    )
    identical_text_window_hours: int = Field(
        default=24,
        ge=0,
        le=720,
        description="Window of the identical-text check: a text (case and spacing ignored) sent to "
        "max_identical_texts other conversations on a platform within it is withheld and queued "
        "for a person (0: no check).",
    )
    max_identical_texts: int = Field(
        default=20,
        ge=1,
        description="How many conversations on one platform may get the same text within "
        "identical_text_window_hours (1: each text once, as X requires).",
    )
    blocked_send_priority: Priority = Field(
        default=50, description="Queue priority when a send is withheld and the rule has no queue action."
    )
    fallback_to_default_language: bool = Field(
        default=False,
        description="Reply in default_language when a template lacks the message's language "
        "(false: queue for a person instead).",
    )


def _check_timezone(value: str) -> str:
    """Accept only IANA timezone names zoneinfo knows (Europe/London, America/New_York, UTC)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone '{value}': use an IANA name such as Europe/London") from None
    return value


def _check_range(value: str) -> str:
    """Accept an opening range ``HH:MM-HH:MM`` (an end before the start crosses midnight)."""
    parse_range(value)
    return value


Timezone = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_check_timezone)]
OpeningRange = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_check_range)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Weekly = dict[Weekday, Annotated[tuple[OpeningRange, ...], AsList]]


def _check_week(weekly: Weekly | None) -> None:
    if weekly is None:
        return
    overlap = week_overlaps({day: [parse_range(text) for text in ranges] for day, ranges in weekly.items()})
    if overlap is not None:
        raise ValueError(f"opening ranges must not overlap: {overlap}")


class HoursOverride(_Model):
    """Different business hours for one platform (or one channel of it); unset keys come from business_hours."""

    platform: Platform = Field(description="The platform these hours are for.")
    channel: Channel | None = Field(default=None, description="Only this channel (default: every channel).")
    timezone: Timezone | None = Field(default=None, description="IANA timezone (default: business_hours').")
    weekly: Weekly | None = Field(
        default=None, description="Opening ranges per weekday, as in business_hours."
    )
    holidays: tuple[date, ...] | None = Field(
        default=None, description="Closed dates (default: business_hours')."
    )

    @model_validator(mode="after")
    def _no_overlaps(self) -> HoursOverride:
        _check_week(self.weekly)
        return self


class BusinessHours(_Model):
    """When people answer: weekly opening ranges in a timezone, closed dates, per-channel overrides.

    Without this section people are taken to answer around the clock.
    """

    timezone: Timezone = Field(default="UTC", description="IANA timezone of the ranges (Europe/London).")
    weekly: Weekly = Field(
        description="Opening ranges per weekday (mon..sun): HH:MM-HH:MM, an end before the start "
        "crosses midnight (fri: 22:00-02:00 ends Saturday 02:00); a missing day is closed."
    )
    holidays: tuple[date, ...] = Field(
        default=(), description="Closed dates (2025-12-25): ranges starting on them do not open."
    )
    overrides: tuple[HoursOverride, ...] = Field(
        default=(), description="Other hours for a platform or channel; the first that matches applies."
    )

    @model_validator(mode="after")
    def _no_overlaps(self) -> BusinessHours:
        _check_week(self.weekly)
        if not any(self.weekly.values()):
            raise ValueError("weekly needs at least one opening range")
        return self


class SlaTarget(_Model):
    """How soon a person must answer matching messages; every condition given must hold."""

    platform: Annotated[tuple[Platform, ...] | None, AsList] = Field(
        default=None, description="Message platform is one of these."
    )
    channel: Annotated[tuple[Channel, ...] | None, AsList] = Field(
        default=None, description="Message channel is one of these."
    )
    category: Annotated[tuple[Category, ...] | None, AsList] = Field(
        default=None, description="Verdict category is one of these."
    )
    minutes: int = Field(ge=1, le=43200, description="Minutes of business time to the first answer.")


class Sla(_Model):
    """Service levels: when each queue item is due and what an acknowledgement promises ({reply_by})."""

    default_minutes: int = Field(
        default=240, ge=1, le=43200, description="Target when no target matches (minutes of business time)."
    )
    targets: tuple[SlaTarget, ...] = Field(
        default=(), description="Targets in order; the first whose conditions hold applies."
    )
    remind_before_minutes: int = Field(
        default=10, ge=0, le=1440, description="Remind the team chat this long before a due or promised time."
    )
    business_time: bool = Field(
        default=True, description="Count only open business hours (false: count every minute)."
    )


ActionKind = Literal["acknowledge", "move_to_private", "hide", "ignore", "queue"]
ExampleText = Annotated[str, StringConstraints(min_length=1)]


class ExampleAuthor(_Model):
    """Who wrote an example message."""

    username: Text = Field(default="customer", description="Username, without @.")
    id: AccountId | None = Field(default=None, description="Platform user id (default: the username).")
    display_name: str | None = Field(default=None, description="Display name ({first_name}, {name}).")
    bot: bool = Field(default=False, description="The author is a bot (nothing is ever sent to bots).")


class ExampleContext(_Model):
    """What the pipeline knows about the example's thread and author when it decides."""

    heat: Score = Field(default=0.0, description="Thread heat (0..1).")
    acknowledged: bool = Field(default=False, description="The thread was already acknowledged.")
    moved_private: bool = Field(default=False, description="The thread was already moved to private.")
    acks_today: int = Field(
        default=0, ge=0, description="Acknowledgements the author already got in the last day."
    )
    own_account: bool = Field(
        default=False, description="The pipeline knows the author as one of the brand's accounts."
    )


class Expectation(_Model):
    """What an example must produce; every key given must hold."""

    category: Category | None = Field(default=None, description="The verdict's category.")
    rule: RuleId | None = Field(default=None, description="The id of the deciding rule (or fallback).")
    actions: Annotated[tuple[ActionKind, ...] | None, AsList] = Field(
        default=None, description="The decision's action kinds, exactly and in order."
    )
    language: LanguageCode | None = Field(default=None, description="The detected language.")

    @model_validator(mode="after")
    def _something(self) -> Expectation:
        if self.category is None and self.rule is None and self.actions is None and self.language is None:
            raise ValueError("expect needs at least one of category, rule, actions, language")
        return self


class Example(_Model):
    """A message and what the policy must do with it; checked by `tactful policy test`, ignored at run time."""

    name: str = Field(default="", description="Short label shown in the report.")
    text: ExampleText = Field(description="The message text.")
    platform: Platform = Field(default=Platform.X, description="Where it was posted.")
    channel: Channel | None = Field(
        default=None,
        description="Channel (default: mention on x, comment on facebook, group on telegram); "
        "direct is a private chat.",
    )
    language_hint: LanguageCode | None = Field(
        default=None, description="The language the platform reported, as X does."
    )
    author: ExampleAuthor = Field(default_factory=ExampleAuthor, description="Who wrote it.")
    context: ExampleContext = Field(default_factory=ExampleContext, description="Thread and author state.")
    time: datetime | None = Field(
        default=None, description="When it was written (default 2025-01-06T12:00Z)."
    )
    expect: Expectation = Field(description="What must happen.")


class Policy(_Model):
    """A complete conduct policy, version 1."""

    version: Literal[1] = Field(description="Schema version; must be 1.")
    brand: Brand = Field(description="Who the policy speaks for.")
    default_language: LanguageCode = Field(default="en", description="Language every template must cover.")
    keywords: Keywords = Field(default_factory=Keywords, description="Words that raise queue priority.")
    templates: dict[TemplateId, dict[LanguageCode, tuple[Text, ...]]] = Field(
        default_factory=dict, description="Template id -> language -> text variants."
    )
    rules: tuple[Rule, ...] = Field(min_length=1, description="Ordered rules; first match wins.")
    safety: Safety = Field(default_factory=Safety, description="Limits on automatic sends.")
    business_hours: BusinessHours | None = Field(
        default=None, description="When people answer (none: around the clock)."
    )
    sla: Sla = Field(default_factory=Sla, description="Due times of queue items and promised reply times.")
    examples: tuple[Example, ...] = Field(
        default=(),
        description="Messages with expected outcomes for `tactful policy test`; ignored at run time.",
    )


Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class SchemaIssue:
    """A cross-field problem found after type validation, located by its path in the document."""

    loc: Loc
    message: str
    hint: str | None = None


#: The channels each platform has (see tactful.domain.Channel).
PLATFORM_CHANNELS: dict[Platform, frozenset[Channel]] = {
    Platform.X: frozenset({Channel.MENTION, Channel.SEARCH, Channel.DIRECT}),
    Platform.FACEBOOK: frozenset({Channel.COMMENT, Channel.DIRECT}),
    Platform.TELEGRAM: frozenset({Channel.GROUP, Channel.DIRECT}),
}

#: The channel an example uses when it names none.
DEFAULT_CHANNEL: dict[Platform, Channel] = {
    Platform.X: Channel.MENTION,
    Platform.FACEBOOK: Channel.COMMENT,
    Platform.TELEGRAM: Channel.GROUP,
}


def semantic_issues(policy: Policy) -> list[SchemaIssue]:
    """Return every problem type checks cannot see: references, duplicates, variables, coverage."""
    return [*_rule_issues(policy), *_template_issues(policy), *_example_issues(policy)]


def _example_issues(policy: Policy) -> Iterator[SchemaIssue]:
    rule_ids = [rule.id for rule in policy.rules]
    for index, example in enumerate(policy.examples):
        if example.channel is not None and example.channel not in PLATFORM_CHANNELS[example.platform]:
            channels = ", ".join(sorted(PLATFORM_CHANNELS[example.platform]))
            yield SchemaIssue(
                ("examples", index, "channel"),
                f"{example.platform.value} has no {example.channel.value} channel",
                f"{example.platform.value} channels: {channels}",
            )
        expected = example.expect.rule
        if expected is not None and expected != FALLBACK_RULE_ID and expected not in rule_ids:
            close = difflib.get_close_matches(expected, rule_ids, n=1)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else f"rules: {', '.join(rule_ids)}, {FALLBACK_RULE_ID}"
            )
            yield SchemaIssue(
                ("examples", index, "expect", "rule"),
                f"expects rule '{expected}', which is not defined",
                hint,
            )


def _rule_issues(policy: Policy) -> Iterator[SchemaIssue]:
    seen: dict[str, int] = {}
    for index, rule in enumerate(policy.rules):
        if rule.id == FALLBACK_RULE_ID:
            yield SchemaIssue(("rules", index, "id"), f"rule id '{rule.id}' is reserved", "pick another id")
        elif rule.id in seen:
            yield SchemaIssue(
                ("rules", index, "id"),
                f"duplicate rule id '{rule.id}'",
                f"first used by rules[{seen[rule.id]}]; rule ids must be unique",
            )
        else:
            seen[rule.id] = index
        yield from _impossible_conditions(index, rule.when)
        yield from _action_issues(policy, index, rule)


LIST_CONDITIONS = ("category", "platform", "channel", "language", "keywords_any")
SCORE_CONDITIONS = ("heat", "toxicity", "complaint", "confidence")


def _impossible_conditions(index: int, when: When) -> Iterator[SchemaIssue]:
    """Conditions that no message can meet: an empty list, min not below max, a max of 0."""
    loc: Loc = ("rules", index, "when")
    for name in LIST_CONDITIONS:
        if getattr(when, name) == ():
            yield SchemaIssue(
                (*loc, name),
                f"{name} is an empty list, so the rule could never match",
                f"list at least one value, or remove {name} to match any",
            )
    for score in SCORE_CONDITIONS:
        low, high = getattr(when, f"min_{score}"), getattr(when, f"max_{score}")
        if low is not None and high is not None and low >= high:
            yield SchemaIssue(
                (*loc, f"max_{score}"),
                f"min_{score} ({low}) must be below max_{score} ({high}), so the rule could never match",
                f"min_{score} matches scores >= {low}, max_{score} scores < {high}",
            )
        elif high == 0:
            yield SchemaIssue(
                (*loc, f"max_{score}"),
                f"max_{score} 0 can never hold, so the rule could never match (scores are never below 0)",
                "max_ bounds are exclusive: use a bound above 0, or remove it",
            )


def _action_issues(policy: Policy, index: int, rule: Rule) -> Iterator[SchemaIssue]:
    first: dict[str, int] = {}
    for position, action in enumerate(rule.then):
        loc: Loc = ("rules", index, "then", position)
        if action.kind in first:
            yield SchemaIssue((*loc, action.kind), f"'{action.kind}' appears twice in one rule", "keep one")
        first.setdefault(action.kind, position)
        if action.acknowledge is not None:
            yield from _template_ref(policy, (*loc, "acknowledge"), action.acknowledge)
        if action.move_to_private is not None:
            move = action.move_to_private
            yield from _template_ref(policy, (*loc, "move_to_private", "template"), move.template)
            yield from _template_ref(policy, (*loc, "move_to_private", "fallback"), move.fallback)
    sends = sorted(SEND_KINDS & first.keys(), key=first.__getitem__)
    if len(sends) > 1:
        loc = ("rules", index, "then", first[sends[1]], sends[1])
        yield SchemaIssue(loc, "acknowledge and move_to_private cannot share a rule", "keep one of them")
    if "ignore" in first and sends:
        loc = ("rules", index, "then", first["ignore"], "ignore")
        yield SchemaIssue(loc, f"ignore contradicts {sends[0]} in the same rule", "remove one of them")


def _template_ref(policy: Policy, loc: Loc, template_id: str) -> Iterator[SchemaIssue]:
    if template_id in policy.templates:
        return
    close = difflib.get_close_matches(template_id, list(policy.templates), n=1)
    hint = f"did you mean '{close[0]}'?" if close else "define it under templates:"
    yield SchemaIssue(loc, f"template '{template_id}' is not defined", hint)


def _template_issues(policy: Policy) -> Iterator[SchemaIssue]:
    default = policy.default_language
    for template_id, languages in policy.templates.items():
        if not languages.get(default):
            yield SchemaIssue(
                ("templates", template_id),
                f"template '{template_id}' has no variants for the default language '{default}'",
                f"add variants under '{default}:'",
            )
        for language, variants in languages.items():
            seen: set[str] = set()
            for position, text in enumerate(variants):
                loc: Loc = ("templates", template_id, language, position)
                for problem in template_problems(text):
                    yield SchemaIssue(loc, problem.message, problem.hint)
                if text in seen:
                    yield SchemaIssue(loc, "duplicate variant", "each variant should read differently")
                seen.add(text)
