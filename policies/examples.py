"""Policy examples: classify each example message, decide it with the engine, compare with `expect`.

Each example becomes the message and decision context the pipeline would build (platform,
channel, author, thread heat and state), so an example passes exactly when `tactful run`
would decide that message the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from moderation.classifier import ModerationInput
from moderation.verdict import Verdict
from policies.decision import Acknowledge, Action, Decision, DecisionContext, Hide, Ignore, MoveToPrivate
from policies.engine import PolicyEngine
from policies.loader import LoadedPolicy
from policies.schema import DEFAULT_CHANNEL, Example
from tactful.domain import Author, Channel, IncomingMessage, Platform

#: When an example does not say when it was written.
DEFAULT_TIME = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)

#: The link a platform gives for opening a private conversation (Facebook replies privately without one).
_PRIVATE_LINKS: dict[Platform, str | None] = {
    Platform.X: "https://x.com/messages/compose?recipient_id=1",
    Platform.FACEBOOK: None,
    Platform.TELEGRAM: "https://t.me/brand_bot?start=example",
}


class Classifier(Protocol):
    """Anything that classifies a batch like `moderation.classifier.Moderator`."""

    def classify(self, items: Sequence[ModerationInput]) -> list[Verdict]:
        """Return one verdict per item, in order."""
        ...


@dataclass(frozen=True, slots=True)
class ExampleResult:
    """One example's outcome: the verdict, the decision, and what did not match `expect`."""

    index: int
    example: Example
    verdict: Verdict
    decision: Decision
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """Whether every expectation held."""
        return not self.failures

    @property
    def action_kinds(self) -> tuple[str, ...]:
        """The decision's action kinds, in order (`acknowledge`, `queue`...)."""
        return tuple(action_kind(action) for action in self.decision.actions)


def action_kind(action: Action) -> str:
    """Return the policy name of a decided action (the `then:` key that produces it)."""
    if isinstance(action, Acknowledge):
        return "acknowledge"
    if isinstance(action, MoveToPrivate):
        return "move_to_private"
    if isinstance(action, Hide):
        return "hide"
    if isinstance(action, Ignore):
        return "ignore"
    return "queue"


def run_examples(loaded: LoadedPolicy, classifier: Classifier) -> list[ExampleResult]:
    """Classify every example in one batch, decide each with the engine and compare."""
    examples = loaded.policy.examples
    if not examples:
        return []
    engine = PolicyEngine(loaded)
    verdicts = classifier.classify([ModerationInput(ex.text, ex.language_hint) for ex in examples])
    results = []
    for index, (example, verdict) in enumerate(zip(examples, verdicts, strict=True)):
        decision = engine.decide(example_context(example, index, verdict))
        results.append(ExampleResult(index, example, verdict, decision, _compare(example, verdict, decision)))
    return results


def example_context(example: Example, index: int, verdict: Verdict) -> DecisionContext:
    """Build the decision context the pipeline would build for this example."""
    channel = example.channel or DEFAULT_CHANNEL[example.platform]
    when = example.time or DEFAULT_TIME
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    who = example.author
    author = Author(example.platform, who.id or who.username, who.username, who.display_name, who.bot)
    message = IncomingMessage(
        platform=example.platform,
        channel=channel,
        external_id=f"example-{index}",
        thread_external_id=f"example-thread-{index}",
        author=author,
        text=example.text,
        created_at=when,
        language_hint=example.language_hint,
        is_private=channel is Channel.DIRECT,
    )
    context = example.context
    return DecisionContext(
        message=message,
        verdict=verdict,
        now=when,
        thread_heat=context.heat,
        thread_acknowledged=context.acknowledged,
        thread_moved_private=context.moved_private,
        author_acks_today=context.acks_today,
        from_own_account=context.own_account,
        private_channel_link=_PRIVATE_LINKS[example.platform],
    )


def _compare(example: Example, verdict: Verdict, decision: Decision) -> tuple[str, ...]:
    expect = example.expect
    failures = []
    if expect.category is not None and verdict.category is not expect.category:
        failures.append(f"expected category {expect.category.value}, got {verdict.category.value}")
    if expect.rule is not None and decision.rule_id != expect.rule:
        failures.append(f"expected rule {expect.rule}, got {decision.rule_id}")
    if expect.actions is not None:
        kinds = tuple(action_kind(action) for action in decision.actions)
        if kinds != expect.actions:
            failures.append(f"expected actions [{', '.join(expect.actions)}], got [{', '.join(kinds)}]")
    if expect.language is not None and verdict.language != expect.language:
        failures.append(f"expected language {expect.language}, got {verdict.language}")
    return tuple(failures)
