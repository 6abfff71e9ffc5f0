"""The moderator a running tactful uses: the default models, or trained ones from `[moderation] model_dir`.

The complaint keywords are the moderator's own (`moderation.rules.DEFAULT_KEYWORDS`) plus the
policy's priority keywords, so a manager who adds "warranty" to `keywords.priority` raises both
the queue priority and the complaint signal of messages that name it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from moderation.classifier import Moderator
from moderation.rules import DEFAULT_KEYWORDS
from policies.loader import load_policies
from tactful.errors import ConfigurationError
from tactful.policy_source import policy_paths
from tactful.settings import Settings


def complaint_keywords(policy_keywords: Iterable[str]) -> tuple[str, ...]:
    """Return the default complaint keywords followed by the policy's new ones (case-insensitive, no repeats)."""
    seen = {keyword.casefold() for keyword in DEFAULT_KEYWORDS}
    extra: list[str] = []
    for keyword in policy_keywords:
        cleaned = " ".join(keyword.split())
        if cleaned and cleaned.casefold() not in seen:
            seen.add(cleaned.casefold())
            extra.append(cleaned.casefold())
    return (*DEFAULT_KEYWORDS, *extra)


def policy_priority_keywords(settings: Settings) -> tuple[str, ...]:
    """Return the configured policy's priority keywords (an invalid policy is a PolicyError, a ConfigurationError)."""
    return tuple(load_policies(policy_paths(settings.policy.path)).policy.keywords.priority)


def build_moderator(settings: Settings) -> Moderator:
    """Return the moderator for these settings; a bad `[moderation] model_dir` is a ConfigurationError."""
    return policy_moderator(policy_priority_keywords(settings), settings.moderation.model_dir)


def policy_moderator(priority_keywords: Iterable[str], model_dir: Path | None = None) -> Moderator:
    """Return the moderator `tactful run` uses for a policy with these priority keywords."""
    keywords = complaint_keywords(priority_keywords)
    if model_dir is None:
        return Moderator(keywords)
    from moderation.trained import ModelDirError, load_models

    try:
        return Moderator(keywords, trained=load_models(model_dir))
    except ModelDirError as exc:
        raise ConfigurationError(f"[moderation] model_dir: {exc}") from exc
