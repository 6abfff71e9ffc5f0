"""Author history: recognise repeat abusers, and never let one angry message turn a customer into a troll.

The classifier judges one message alone. What an author wrote before changes how sure we may be:

- A **repeat abuser** (at least `REPEAT_ABUSER_TROLLS` earlier troll verdicts, the latest within
  `REPEAT_ABUSER_WINDOW`) whose new message is again a troll verdict is a troll with high
  confidence (the default policy ignores confident trolls without a reply).
- A **long-time customer** (at least `LONG_TIME_MESSAGES` earlier messages, the first of them at
  least `LONG_TIME_SPAN` ago, and no troll verdict ever) whose new message reads as a troll is
  not treated as one: the verdict becomes a complaint when the message carries any complaint
  evidence, otherwise "other", with low confidence, so a person looks at it instead of the
  policy ignoring a customer on a bad day.

The history counts verdicts as finally recorded (after this adjustment), so a long-time
customer's one angry message does not count as a troll verdict against them later.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from moderation.verdict import Category, Verdict

REPEAT_ABUSER_TROLLS = 2
REPEAT_ABUSER_WINDOW = timedelta(days=30)
REPEAT_ABUSER_CONFIDENCE = 0.9
LONG_TIME_MESSAGES = 3
LONG_TIME_SPAN = timedelta(days=14)
LONG_TIME_CONFIDENCE = 0.4
COMPLAINT_EVIDENCE = 0.3


@dataclass(slots=True)
class AuthorHistory:
    """What an author wrote before: processed messages, troll verdicts and when."""

    messages: int = 0
    trolls: int = 0
    first_message_at: datetime | None = None
    last_troll_at: datetime | None = None

    def is_repeat_abuser(self, now: datetime) -> bool:
        """Return True when the author was judged a troll repeatedly, recently."""
        return (
            self.trolls >= REPEAT_ABUSER_TROLLS
            and self.last_troll_at is not None
            and now - self.last_troll_at <= REPEAT_ABUSER_WINDOW
        )

    def is_long_time_customer(self, now: datetime) -> bool:
        """Return True for an author with a long, troll-free history with the brand."""
        return (
            self.trolls == 0
            and self.messages >= LONG_TIME_MESSAGES
            and self.first_message_at is not None
            and now - self.first_message_at >= LONG_TIME_SPAN
        )

    def record(self, verdict: Verdict, created_at: datetime) -> None:
        """Count one more processed message with its final verdict."""
        self.messages += 1
        if self.first_message_at is None or created_at < self.first_message_at:
            self.first_message_at = created_at
        if verdict.category is Category.TROLL:
            self.trolls += 1
            if self.last_troll_at is None or created_at > self.last_troll_at:
                self.last_troll_at = created_at


def apply_history(verdict: Verdict, history: AuthorHistory, now: datetime) -> Verdict:
    """Return the verdict adjusted for what the author wrote before (unchanged when it does not matter)."""
    if verdict.category is not Category.TROLL:
        return verdict
    if history.is_repeat_abuser(now):
        note = f"repeat abuser: {history.trolls} earlier troll verdicts, the latest on {history.last_troll_at:%Y-%m-%d}"
        return replace(
            verdict,
            confidence=max(verdict.confidence, REPEAT_ABUSER_CONFIDENCE),
            explanation=f"{verdict.explanation}; {note}",
        )
    if history.is_long_time_customer(now):
        evidence = verdict.keywords or verdict.complaint >= COMPLAINT_EVIDENCE
        category = Category.COMPLAINT if evidence else Category.OTHER
        since = history.first_message_at
        note = (
            f"long-time customer ({history.messages} messages since {since:%Y-%m-%d}, never a troll): "
            f"read as {category.value}, not troll; a person should look"
        )
        return replace(
            verdict,
            category=category,
            confidence=min(verdict.confidence, LONG_TIME_CONFIDENCE),
            explanation=f"{verdict.explanation}; {note}",
        )
    return verdict
