"""The decision engine: applies a loaded conduct policy to one message context and returns a Decision."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from operator import attrgetter

from moderation.verdict import Category
from policies.decision import (
    Acknowledge,
    Action,
    Decision,
    DecisionContext,
    Hide,
    Ignore,
    MoveToPrivate,
    QueueForReview,
)
from policies.loader import LoadedPolicy
from policies.reply_by import reply_by_values
from policies.schema import FALLBACK_RULE_ID, ActionSpec, Policy, Rule, When
from policies.sla import ServiceLevels
from policies.templates import (
    PROMISE_VARIABLES,
    Refusal,
    Rendered,
    pick_language,
    render,
    template_fields,
    template_problems,
    template_values,
)
from tactful.domain import Channel, Platform

#: Queue priority when no rule matches.
FALLBACK_PRIORITY = 30


def keyword_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """Compile case-insensitive word-prefix matching for keywords (refund matches refunded, not prefund)."""
    cleaned = sorted({word.strip().casefold() for word in words if word.strip()}, key=len, reverse=True)
    if not cleaned:
        return None
    return re.compile(r"(?<!\w)(" + "|".join(re.escape(word) for word in cleaned) + ")", re.IGNORECASE)


@dataclass
class _Outcome:
    """Actions being assembled for one decision, plus why sends were withheld."""

    actions: list[Action] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)


SCORE_BOUNDS = (
    ("heat", "thread heat"),
    ("toxicity", "toxicity"),
    ("complaint", "complaint"),
    ("confidence", "confidence"),
)


class PolicyEngine:
    """Decides what to do about a message; pure: no I/O, no clock reads (time comes from ctx.now)."""

    def __init__(self, loaded: LoadedPolicy) -> None:
        self._loaded = loaded
        self.policy: Policy = loaded.policy
        self._priority_words = keyword_pattern(self.policy.keywords.priority)
        self._rule_words = {
            rule.id: keyword_pattern(rule.when.keywords_any)
            for rule in self.policy.rules
            if rule.when.keywords_any
        }
        self._bounds: dict[str, list[tuple[str, str, float | None, float | None]]] = {
            rule.id: [
                (key, label, getattr(rule.when, f"min_{key}"), getattr(rule.when, f"max_{key}"))
                for key, label in SCORE_BOUNDS
                if getattr(rule.when, f"min_{key}") is not None
                or getattr(rule.when, f"max_{key}") is not None
            ]
            for rule in self.policy.rules
        }
        # Rules in order, per category: a rule restricted to other categories is never tried.
        self._rules_by_category: dict[Category, list[Rule]] = {
            category: [
                rule
                for rule in self.policy.rules
                if rule.when.category is None or category in rule.when.category
            ]
            for category in Category
        }
        self._own = {
            platform: {_handle(account) for account in accounts if _handle(account)}
            for platform, accounts in self.policy.brand.own_accounts.items()
        }
        self.levels = ServiceLevels(self.policy)
        self._promising: dict[tuple[str, str], bool] = {}  # (template, language) -> a variant promises
        # Each rule's conditions as small checks, tried in order for every message: the category
        # is already settled by `_rules_by_category`; reasons are only worded for the rule that matches.
        self._checks: dict[str, tuple[_Check, ...]] = {
            rule.id: self._compile(rule) for rule in self.policy.rules
        }
        self._open_at: dict[tuple[Platform, Channel], tuple[datetime, bool]] = {}

    @property
    def version(self) -> str:
        """Return the policy version (sha256 prefix of the policy file) stamped on every decision."""
        return self._loaded.version

    @property
    def global_sends_per_minute(self) -> int:
        """Return the outbox-wide send ceiling from the policy's safety section."""
        return self.policy.safety.global_sends_per_minute

    def decide(self, ctx: DecisionContext) -> Decision:
        """Return the decision of the first matching rule, or a fallback queue item."""
        own = self.is_own_account(ctx)
        checks = self._checks
        for rule in self._rules_by_category[ctx.verdict.category]:
            for check in checks[rule.id]:
                if not check(ctx, own):
                    break
            else:
                reasons = self._match(rule, ctx, own) or []
                return self._apply(rule, reasons, ctx, own)
        actions: list[Action] = [QueueForReview(FALLBACK_PRIORITY, "no rule matched; a person should look")]
        explanation = "no rule matched: queued for a person"
        return self._finish(FALLBACK_RULE_ID, actions, explanation, ctx)

    def is_own_account(self, ctx: DecisionContext) -> bool:
        """Return whether the author is one of the brand's accounts (flag from the pipeline or policy list)."""
        if ctx.from_own_account:
            return True
        accounts = self._own.get(ctx.message.platform)
        if not accounts:
            return False
        author = ctx.message.author
        return bool({_handle(author.username), _handle(author.external_id)} & accounts)

    def _compile(self, rule: Rule) -> tuple[_Check, ...]:
        """Return the rule's conditions (except its category) as checks of (context, own account)."""
        when: When = rule.when
        checks: list[_Check] = []
        if when.platform is not None:
            platforms = frozenset(when.platform)
            checks.append(lambda ctx, own: ctx.message.platform in platforms)
        if when.channel is not None:
            channels = frozenset(when.channel)
            checks.append(lambda ctx, own: ctx.message.channel in channels)
        if when.language is not None:
            languages = frozenset(when.language)

            def language_matches(ctx: DecisionContext, own: bool) -> bool:
                language = (ctx.verdict.language or "").lower().replace("_", "-")
                return language in languages or language.split("-", 1)[0] in languages

            checks.append(language_matches)
        for key, _label, low, high in self._bounds[rule.id]:
            checks.append(_bound_check(key, low, high))
        if when.keywords_any is not None:
            pattern = self._rule_words.get(rule.id)
            checks.append(
                lambda ctx, own: _first_keyword(pattern, ctx.message.text, ctx.verdict.keywords) is not None
            )
        if when.from_own_account is not None:
            wanted_own = when.from_own_account
            checks.append(lambda ctx, own: own == wanted_own)
        if when.is_private is not None:
            wanted_private = when.is_private
            checks.append(lambda ctx, own: ctx.message.is_private == wanted_private)
        if when.in_business_hours is not None:
            wanted_open = when.in_business_hours
            checks.append(lambda ctx, own: self._is_open(ctx) == wanted_open)
        return tuple(checks)

    def _is_open(self, ctx: DecisionContext) -> bool:
        """Whether the message's channel is inside business hours at ctx.now (a batch shares one now)."""
        key = (ctx.message.platform, ctx.message.channel)
        last = self._open_at.get(key)
        if last is not None and last[0] == ctx.now:
            return last[1]
        inside = self.levels.hours(*key).is_open(ctx.now)
        self._open_at[key] = (ctx.now, inside)
        return inside

    def _match(self, rule: Rule, ctx: DecisionContext, own: bool, explain: bool = True) -> list[str] | None:
        """Return why every condition of the rule holds (empty unless `explain`), or None when one does not.

        Deciding tries the compiled checks (`_compile`); this words the reasons of the rule that matched.
        """
        when: When = rule.when
        verdict = ctx.verdict
        message = ctx.message
        reasons: list[str] = []
        if when.category is not None:
            if verdict.category not in when.category:
                return None
            if explain:
                reasons.append(f"category {verdict.category.value} ({verdict.confidence:.2f})")
        if when.platform is not None:
            if message.platform not in when.platform:
                return None
            if explain:
                reasons.append(f"platform {message.platform.value}")
        if when.channel is not None:
            if message.channel not in when.channel:
                return None
            if explain:
                reasons.append(f"channel {message.channel.value}")
        if when.language is not None:
            language = (verdict.language or "").lower().replace("_", "-")
            if language not in when.language and language.split("-", 1)[0] not in when.language:
                return None
            if explain:
                reasons.append(f"language {language}")
        for key, label, low, high in self._bounds[rule.id]:
            value = ctx.thread_heat if key == "heat" else getattr(verdict, key)
            if low is not None:
                if value < low:
                    return None
                if explain:
                    reasons.append(f"{label} {value:.2f} >= {low:.2f}")
            if high is not None:
                if value >= high:
                    return None
                if explain:
                    reasons.append(f"{label} {value:.2f} < {high:.2f}")
        if when.keywords_any is not None:
            found = _first_keyword(self._rule_words.get(rule.id), message.text, verdict.keywords)
            if found is None:
                return None
            if explain:
                reasons.append(f"keyword '{found}'")
        if when.from_own_account is not None:
            if own != when.from_own_account:
                return None
            if explain:
                reasons.append("from our own account" if own else "not from our own account")
        if when.is_private is not None:
            if message.is_private != when.is_private:
                return None
            if explain:
                reasons.append("private chat" if message.is_private else "public")
        if when.in_business_hours is not None:
            inside = self._is_open(ctx)
            if inside != when.in_business_hours:
                return None
            if explain:
                reasons.append("inside business hours" if inside else "outside business hours")
        return reasons

    def _apply(self, rule: Rule, reasons: list[str], ctx: DecisionContext, own: bool) -> Decision:
        """Build the rule's actions, withholding sends that safety forbids."""
        outcome = _Outcome()
        for spec in rule.then:
            self._add_action(spec, ctx, own, outcome)
        if outcome.withheld:
            note = "; ".join(outcome.withheld)
            queued = next((a for a in outcome.actions if isinstance(a, QueueForReview)), None)
            if queued is None:
                priority = self.policy.safety.blocked_send_priority
                outcome.actions.append(QueueForReview(priority, f"{rule.id}: {note}"))
            else:
                index = outcome.actions.index(queued)
                outcome.actions[index] = replace(queued, reason=f"{queued.reason}; {note}")
        matched = ", ".join(reasons) if reasons else "matches every message"
        explanation = f"rule {rule.id}: {matched}"
        if outcome.withheld:
            explanation += "; " + "; ".join(outcome.withheld)
        return self._finish(rule.id, outcome.actions, explanation, ctx)

    def _add_action(self, spec: ActionSpec, ctx: DecisionContext, own: bool, outcome: _Outcome) -> None:
        """Append one action (or the reason it was withheld) to the outcome."""
        if spec.queue is not None:
            outcome.actions.append(QueueForReview(spec.queue.priority, spec.queue.reason))
        elif spec.ignore is not None:
            outcome.actions.append(Ignore(spec.ignore))
        elif spec.hide is not None:
            if own:
                outcome.withheld.append("hide withheld: message is from our own account")
            else:
                outcome.actions.append(Hide(spec.hide))
        elif spec.acknowledge is not None:
            self._acknowledge(spec.acknowledge, ctx, own, outcome)
        elif spec.move_to_private is not None:
            self._move(spec.move_to_private.template, spec.move_to_private.fallback, ctx, own, outcome)

    def _acknowledge(self, template_id: str, ctx: DecisionContext, own: bool, outcome: _Outcome) -> None:
        safety = self.policy.safety
        blocked = self._send_blocker(ctx, own)
        if blocked is None and safety.one_ack_per_thread and ctx.thread_acknowledged:
            blocked = "thread already acknowledged"
        if blocked is None and ctx.author_acks_today >= safety.max_acks_per_author_per_day:
            blocked = (
                f"author already got {ctx.author_acks_today} acknowledgements today "
                f"(limit {safety.max_acks_per_author_per_day})"
            )
        if blocked is not None:
            outcome.withheld.append(f"acknowledgement withheld: {blocked}")
            return
        result, promised = self._render(template_id, ctx)
        if isinstance(result, Refusal):
            outcome.withheld.append(f"acknowledgement withheld: {result.reason}")
            return
        outcome.actions.append(Acknowledge(result.text, template_id, result.variant, promised))

    def _move(
        self, template_id: str, fallback_id: str, ctx: DecisionContext, own: bool, outcome: _Outcome
    ) -> None:
        blocked = self._send_blocker(ctx, own)
        if blocked is None and ctx.thread_moved_private:
            blocked = "thread already moved to private"
        if blocked is None and ctx.message.is_private:
            blocked = "conversation is already private"
        if blocked is not None:
            outcome.withheld.append(f"move to private withheld: {blocked}")
            return
        private, promised = self._render(template_id, ctx)
        if isinstance(private, Refusal):
            outcome.withheld.append(f"move to private withheld: {private.reason}")
            return
        # The public invitation is only needed where the private channel opens from a link
        # (X DM link, Telegram deep link); a Facebook private reply needs none.
        fallback = ""
        if ctx.private_channel_link:
            public, public_promise = self._render(fallback_id, ctx)
            if isinstance(public, Refusal):
                outcome.withheld.append(f"move to private withheld: {public.reason}")
                return
            fallback = public.text
            promised = promised or public_promise
        outcome.actions.append(MoveToPrivate(private.text, fallback, template_id, private.variant, promised))

    def _send_blocker(self, ctx: DecisionContext, own: bool) -> str | None:
        """Return why nothing may be sent to this author at all, if anything."""
        if own:
            return "message is from our own account"
        if ctx.message.author.is_bot:
            return "author is a bot"
        return None

    def _render(self, template_id: str, ctx: DecisionContext) -> tuple[Rendered | Refusal, datetime | None]:
        """Render a template; also return the reply time its text promises, if it promises one."""
        brand = ctx.brand_name or self.policy.brand.name
        variants = self.policy.templates.get(template_id)
        promise: datetime | None = None
        reply: dict[str, str] | None = None
        if variants:
            language = pick_language(
                variants,
                ctx.verdict.language,
                self.policy.default_language,
                self.policy.safety.fallback_to_default_language,
            )
            if language is not None and self._promises(template_id, language, variants[language]):
                message = ctx.message
                zone = self.levels.hours(message.platform, message.channel).tz
                promise = self.levels.promise(
                    message.platform, message.channel, ctx.verdict.category, message.created_at, ctx.now
                )
                reply = reply_by_values(promise, ctx.now, zone, language)
        rendered = render(
            template_id,
            variants,
            language=ctx.verdict.language,
            default_language=self.policy.default_language,
            fallback_to_default=self.policy.safety.fallback_to_default_language,
            seed=f"{ctx.message.platform.value}:{ctx.message.external_id}",
            avoid=ctx.last_variant_to_author,
            values=template_values(ctx.message.author, brand, ctx.private_channel_link, reply),
            worn=ctx.worn_texts,
        )
        if isinstance(rendered, Refusal) or variants is None:
            return rendered, None
        text = variants[rendered.language][rendered.variant]
        return rendered, promise if template_fields(text) & PROMISE_VARIABLES else None

    def _promises(self, template_id: str, language: str, variants: Sequence[str]) -> bool:
        """Whether any variant of the template in this language promises a reply time."""
        key = (template_id, language)
        found = self._promising.get(key)
        if found is None:
            found = self._promising[key] = any(
                template_fields(text) & PROMISE_VARIABLES for text in variants if not template_problems(text)
            )
        return found

    def _finish(
        self, rule_id: str, actions: list[Action], explanation: str, ctx: DecisionContext
    ) -> Decision:
        """Apply the priority-keyword boost and stamp the policy version."""
        if not any(type(a) is QueueForReview for a in actions):
            return Decision(rule_id, self.version, tuple(actions), explanation)
        boost = self.policy.keywords.priority_boost
        found = _first_keyword(self._priority_words, ctx.message.text, ()) if boost else None
        if found is not None:
            explanation += f"; priority +{boost} for keyword '{found}'"
        message = ctx.message
        due = self.levels.due_at(
            message.platform, message.channel, ctx.verdict.category, min(message.created_at, ctx.now)
        )
        actions = [
            QueueForReview(
                min(100, a.priority + boost) if found is not None else a.priority,
                a.reason,
                a.due_at if a.due_at is not None else due,
            )
            if type(a) is QueueForReview
            else a
            for a in actions
        ]
        return Decision(rule_id, self.version, tuple(actions), explanation)


_Check = Callable[[DecisionContext, bool], bool]


def _bound_check(key: str, low: float | None, high: float | None) -> _Check:
    """Check that a score (thread heat or a verdict score) lies in [low, high)."""
    if key == "heat":
        value: Callable[[DecisionContext], float] = attrgetter("thread_heat")
    else:
        value = attrgetter(f"verdict.{key}")
    if low is not None and high is not None:
        return lambda ctx, own: low <= value(ctx) < high
    if low is not None:
        return lambda ctx, own: value(ctx) >= low
    assert high is not None
    return lambda ctx, own: value(ctx) < high


def _first_keyword(pattern: re.Pattern[str] | None, text: str, extra: tuple[str, ...]) -> str | None:
    """Return the first keyword found in the text (or among the classifier's keywords)."""
    if pattern is None:
        return None
    match = pattern.search(text)
    if match:
        return match.group(1).casefold()
    for word in extra:
        match = pattern.match(word)
        if match:
            return match.group(1).casefold()
    return None


def _handle(value: str | None) -> str:
    return (value or "").strip().lstrip("@").casefold()
