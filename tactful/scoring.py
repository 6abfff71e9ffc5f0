"""The moderator a running tactful uses: the default models, or trained ones from `[moderation] model_dir`."""

from __future__ import annotations

from moderation.classifier import Moderator
from tactful.errors import ConfigurationError
from tactful.settings import Settings


def build_moderator(settings: Settings) -> Moderator:
    """Return the moderator for these settings; a bad `[moderation] model_dir` is a ConfigurationError."""
    model_dir = settings.moderation.model_dir
    if model_dir is None:
        return Moderator()
    from moderation.trained import ModelDirError, load_models

    try:
        return Moderator(trained=load_models(model_dir))
    except ModelDirError as exc:
        raise ConfigurationError(f"[moderation] model_dir: {exc}") from exc
