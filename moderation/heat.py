"""Heat of a thread: how fast it is escalating, updated one message at a time and stored as JSON.

Formula (every component is in 0..1, the weights add up to 1):

    heat = 0.30 * negativity + 0.15 * intensity + 0.05 * profanity
         + 0.15 * pace + 0.15 * pile_on + 0.20 * repeat

- negativity: moving average (alpha 0.4) of each customer message's negativity,
  `max(-sentiment_score, toxicity if an insult or mockery is present, 1.6 * (complaint - 0.5), 0)`;
- intensity: moving average of shouting, `min(1, 1.5 * caps_ratio + 0.3 * repeated_punct)`;
- profanity: moving average of the profanity signal;
- pace: customer messages in the last 15 minutes / 6;
- pile_on: (distinct authors of negative messages in the last 15 minutes - 1) / 2;
- repeat: (most negative messages by one author in the last 15 minutes - 1) / 2.
A message is negative when its negativity is >= 0.3. The moving averages start at the first
customer message's own value (not at 0, so the first angry post counts in full) and decay
towards 0 with a 30-minute half-life between messages, so a quiet thread cools down. Time
only moves forward: messages with the same (or an earlier) `created_at` do not decay
anything, so a burst posted at once heats like one spread over minutes. A brand message is
not counted in pace, pile-on or repeat, and it cools negativity by 20% (someone answered).

Calibration: a calm thread of questions stays below 0.3 and one complaint with a follow-up
("update: still nothing") below 0.5; an angry customer posting a third time within a few
minutes while another piles on passes 0.6, the default policy's line for moving a public
thread to private.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from moderation.verdict import Verdict

WINDOW_SECONDS = 15 * 60
HALF_LIFE_SECONDS = 30 * 60
ALPHA = 0.4
NEGATIVE_AT = 0.3
_WEIGHTS = {
    "negativity": 0.30,
    "pace": 0.15,
    "intensity": 0.15,
    "profanity": 0.05,
    "pile_on": 0.15,
    "repeat": 0.20,
}
_W_NEGATIVITY, _W_PACE, _W_INTENSITY = _WEIGHTS["negativity"], _WEIGHTS["pace"], _WEIGHTS["intensity"]
_W_PROFANITY, _W_PILE_ON, _W_REPEAT = _WEIGHTS["profanity"], _WEIGHTS["pile_on"], _WEIGHTS["repeat"]


@dataclass(frozen=True, slots=True)
class HeatInput:
    """One message of a thread as the heat model sees it."""

    author_id: str
    created_at: datetime
    text: str
    verdict: Verdict
    from_brand: bool = False


@dataclass(slots=True)
class HeatState:
    """Per-thread heat state; `to_dict`/`from_dict` round-trip through JSON."""

    heat: float = 0.0
    negativity: float = 0.0
    intensity: float = 0.0
    profanity: float = 0.0
    last_at: float | None = None  # POSIX seconds of the latest message
    messages: int = 0
    customer_messages: int = 0
    # Recent customer messages: [posix seconds, author id, negative (0/1)].
    recent: list[tuple[float, str, int]] = field(default_factory=list)
    components: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (it shares `recent` and `components`: states are never mutated)."""
        return {
            "heat": self.heat,
            "negativity": self.negativity,
            "intensity": self.intensity,
            "profanity": self.profanity,
            "last_at": self.last_at,
            "messages": self.messages,
            "customer_messages": self.customer_messages,
            "recent": self.recent,
            "components": self.components,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HeatState:
        """Rebuild a state from `to_dict` output (after a JSON round trip)."""
        last_at = data.get("last_at")
        return cls(
            heat=float(data.get("heat", 0.0)),
            negativity=float(data.get("negativity", 0.0)),
            intensity=float(data.get("intensity", 0.0)),
            profanity=float(data.get("profanity", 0.0)),
            last_at=None if last_at is None else float(last_at),
            messages=int(data.get("messages", 0)),
            customer_messages=int(data.get("customer_messages", data.get("messages", 0))),
            recent=[(float(t), str(a), int(n)) for t, a, n in data.get("recent", ())],
            components=dict(data.get("components", {})),
        )


def message_negativity(verdict: Verdict) -> float:
    """Negativity 0..1 of one message, from its sentiment, aimed toxicity and complaint score."""
    aimed = verdict.signals.get("insult", 0.0) > 0 or verdict.signals.get("mockery", 0.0) > 0
    return max(
        0.0, -verdict.sentiment_score, verdict.toxicity if aimed else 0.0, (verdict.complaint - 0.5) * 1.6
    )


def shouting(signals: dict[str, float]) -> float:
    """Shouting 0..1 of one message: capitals and runs of "!!"/"???"."""
    return min(1.0, 1.5 * signals.get("caps_ratio", 0.0) + 0.3 * signals.get("repeated_punct", 0.0))


def update_heat(state: HeatState | None, item: HeatInput) -> HeatState:
    """Return the new state of a thread after one more message (the input state is not modified)."""
    old = state if state is not None else HeatState()
    now = item.created_at.timestamp()
    last_at = old.last_at
    decay = 1.0
    if last_at is not None and now > last_at:
        decay = 0.5 ** ((now - last_at) / HALF_LIFE_SECONDS)
    negativity = old.negativity * decay
    intensity = old.intensity * decay
    profanity = old.profanity * decay
    recent = [entry for entry in old.recent if now - entry[0] <= WINDOW_SECONDS]
    customer_messages = old.customer_messages
    if item.from_brand:
        negativity *= 0.8
    else:
        signals = item.verdict.signals
        negative = message_negativity(item.verdict)
        alpha = ALPHA if customer_messages else 1.0  # the first customer message seeds the averages
        negativity += alpha * (negative - negativity)
        intensity += alpha * (shouting(signals) - intensity)
        profanity += alpha * (signals.get("profanity", 0.0) - profanity)
        recent.append((now, item.author_id, 1 if negative >= NEGATIVE_AT else 0))
        customer_messages += 1
    negative_per_author: dict[str, int] = {}
    for _, author, is_negative in recent:
        if is_negative:
            negative_per_author[author] = negative_per_author.get(author, 0) + 1
    pace = min(1.0, len(recent) / 6)
    pile_on = min(1.0, max(0, len(negative_per_author) - 1) / 2)
    repeat = min(1.0, max(0, max(negative_per_author.values(), default=0) - 1) / 2)
    heat = (
        _W_NEGATIVITY * negativity
        + _W_PACE * pace
        + _W_INTENSITY * intensity
        + _W_PROFANITY * profanity
        + _W_PILE_ON * pile_on
        + _W_REPEAT * repeat
    )
    return HeatState(
        heat=round(min(1.0, max(0.0, heat)), 4),
        negativity=negativity,
        intensity=intensity,
        profanity=profanity,
        last_at=max(now, last_at) if last_at is not None else now,
        messages=old.messages + 1,
        customer_messages=customer_messages,
        recent=recent,
        components={
            "negativity": round(negativity, 4),
            "pace": round(pace, 4),
            "intensity": round(intensity, 4),
            "profanity": round(profanity, 4),
            "pile_on": round(pile_on, 4),
            "repeat": round(repeat, 4),
        },
    )
