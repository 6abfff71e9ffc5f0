"""Settings: file, environment overrides, secrets only from env or files, never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from tactful.errors import ConfigurationError
from tactful.settings import load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tactful.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_file_values_and_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(
        tmp_path, '[x]\nenabled = true\nuser_id = "1"\npoll_seconds = 30\n[policy]\npath = "p.yaml"\n'
    )
    monkeypatch.setenv("TACTFUL_X__POLL_SECONDS", "90")
    monkeypatch.setenv("TACTFUL_STORAGE__URL", "sqlite:///other.db")
    settings = load_settings(config)
    assert settings.x.enabled and settings.x.user_id == "1"
    assert settings.x.poll_seconds == 90
    assert settings.storage.url == "sqlite:///other.db"
    assert settings.policy.path == (tmp_path / "p.yaml").resolve()


def test_secret_in_the_file_is_refused_with_the_env_name(tmp_path: Path) -> None:
    config = write(tmp_path, '[x]\nbearer_token = "oops"\n')
    with pytest.raises(ConfigurationError, match="TACTFUL_X__BEARER_TOKEN"):
        load_settings(config)


def test_secrets_from_env_or_file_are_never_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_file = tmp_path / "key"
    secret_file.write_text("file-secret\n", encoding="utf-8")
    config = write(tmp_path, f'[x]\nconsumer_key_file = "{secret_file}"\n')
    monkeypatch.setenv("TACTFUL_X__BEARER_TOKEN", "env-secret")
    settings = load_settings(config)
    assert settings.x.secret("bearer_token") == "env-secret"
    assert settings.x.secret("consumer_key") == "file-secret"
    shown = repr(settings) + str(settings.model_dump())
    assert "env-secret" not in shown and "file-secret" not in shown


def test_invalid_values_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"x\.poll_seconds"):
        load_settings(write(tmp_path, "[x]\npoll_seconds = -1\n"))
    with pytest.raises(ConfigurationError, match="invalid TOML"):
        load_settings(write(tmp_path, "[x\n"))
