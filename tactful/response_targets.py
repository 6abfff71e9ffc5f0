"""The first-response target of a platform's channel, for "share answered within target" (docs/stats.md).

One function decides it: the policy's `sla` target for the platform and channel when the policy
names one that does not depend on the message's category, else the defaults below. Metrics count
wall-clock time (business hours are the queue's due times' business, not the platforms').
"""

from __future__ import annotations

from typing import Any

#: Defaults when the policy sets no target: Messenger 15 minutes (Meta's badge), X 60, comments 60.
DEFAULT_TARGET_MINUTES: dict[tuple[str, str | None], int] = {
    ("facebook", "direct"): 15,
    ("facebook", "comment"): 60,
    ("x", None): 60,
}
#: Anything else (Telegram, ...): an hour.
FALLBACK_TARGET_MINUTES = 60


def response_target(platform: str, channel: str, policy: Any = None) -> tuple[int, str]:
    """Return (target in seconds, "policy" or "default") for a platform's channel."""
    sla = getattr(policy, "sla", None)
    for target in getattr(sla, "targets", ()) or ():
        if getattr(target, "category", None):
            continue
        platforms, channels = getattr(target, "platform", None), getattr(target, "channel", None)
        if platforms and platform not in {str(p) for p in platforms}:
            continue
        if channels and channel not in {str(c) for c in channels}:
            continue
        return int(target.minutes) * 60, "policy"
    minutes = DEFAULT_TARGET_MINUTES.get((platform, channel)) or DEFAULT_TARGET_MINUTES.get((platform, None))
    return (minutes or FALLBACK_TARGET_MINUTES) * 60, "default"
