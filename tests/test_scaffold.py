"""`tactful init`: a starter directory that `tactful run` accepts as it is (apart from platform secrets)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tactful.errors import ConfigurationError
from tactful.scaffold import write_scaffold
from tactful.settings import load_settings
from tactful.web.dashboard import dashboard_config


def test_init_writes_config_policy_and_a_private_session_secret(tmp_path: Path) -> None:
    written = write_scaffold(tmp_path / "brand")
    assert [p.name for p in written] == ["tactful.toml", "policy.yaml", "session_secret"]
    secret = tmp_path / "brand" / "session_secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(secret.read_text(encoding="utf-8").strip()) >= 48


def test_the_scaffold_loads_and_the_dashboard_finds_its_secret_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_scaffold(tmp_path / "brand")
    monkeypatch.chdir(tmp_path)  # not the config's directory: relative *_file paths follow the config
    settings = load_settings(tmp_path / "brand" / "tactful.toml")
    assert settings.web.session_secret_file == (tmp_path / "brand" / "session_secret").resolve()
    assert settings.policy.path == (tmp_path / "brand" / "policy.yaml").resolve()
    config = dashboard_config(settings, lambda: None, {})  # type: ignore[arg-type,return-value]
    assert "session_secret" not in repr(config)


def test_init_keeps_an_existing_secret_unless_forced(tmp_path: Path) -> None:
    write_scaffold(tmp_path)
    before = (tmp_path / "session_secret").read_text(encoding="utf-8")
    with pytest.raises(ConfigurationError, match="exists"):
        write_scaffold(tmp_path)
    os.remove(tmp_path / "tactful.toml")
    os.remove(tmp_path / "policy.yaml")
    write_scaffold(tmp_path)
    assert (tmp_path / "session_secret").read_text(encoding="utf-8") == before
    write_scaffold(tmp_path, force=True)
    assert (tmp_path / "session_secret").read_text(encoding="utf-8") != before
