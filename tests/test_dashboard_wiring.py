"""The dashboard's settings and wiring: the session secret, cookie security by host, `tactful run`'s web app."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from tactful.errors import ConfigurationError
from tactful.service import build_service
from tactful.settings import ProcessingSettings, Settings, StorageSettings, WebSettings, load_settings
from tactful.web.dashboard import dashboard_config
from tests.dashboard_helpers import TestClient

SECRET = "s" * 40


def settings(tmp_path: Path, **web: object) -> Settings:
    return Settings(
        storage=StorageSettings(url=f"sqlite:///{tmp_path / 'tactful.db'}"),
        processing=ProcessingSettings(workers=0),
        web=WebSettings(**web),  # type: ignore[arg-type]
    )


def test_the_dashboard_refuses_to_start_without_a_session_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="TACTFUL_WEB__SESSION_SECRET"):
        dashboard_config(settings(tmp_path))
    with pytest.raises(ConfigurationError, match="at least 32"):
        dashboard_config(settings(tmp_path, session_secret=SecretStr("too short")))
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    config = dashboard_config(settings(tmp_path, session_secret_file=secret_file))
    assert config.session_secret == SECRET
    assert SECRET not in repr(config)


def test_the_session_secret_is_never_read_from_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tactful.toml"
    path.write_text(f'[web]\nsession_secret = "{SECRET}"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="TACTFUL_WEB__SESSION_SECRET"):
        load_settings(path)
    path.write_text("[web]\ndashboard = true\n", encoding="utf-8")
    monkeypatch.setenv("TACTFUL_WEB__SESSION_SECRET", SECRET)
    assert load_settings(path).web.secret("session_secret") == SECRET


@pytest.mark.parametrize(
    ("host", "explicit", "secure"),
    [
        ("127.0.0.1", None, False),
        ("localhost", None, False),
        ("::1", None, False),
        ("0.0.0.0", None, True),
        ("dashboard.example.com", None, True),
        ("0.0.0.0", False, False),
        ("127.0.0.1", True, True),
    ],
)
def test_cookies_are_secure_unless_served_on_loopback(host: str, explicit: bool | None, secure: bool) -> None:
    assert WebSettings(host=host, secure_cookies=explicit).cookies_secure() is secure


def test_tactful_run_serves_the_dashboard_even_without_webhooks(tmp_path: Path) -> None:
    service = build_service(settings(tmp_path, session_secret=SecretStr(SECRET)))
    try:
        app = service.web_app()
        assert app is not None
        client = TestClient(app)
        assert client.get("/login").status_code == 200
        assert client.get("/queue", follow_redirects=False).headers["location"] == "/login?next=%2Fqueue"
        assert client.get("/static/dashboard.css").status_code == 200
        assert client.post("/webhooks/facebook").status_code == 404
    finally:
        service.close()


def test_tactful_run_without_a_secret_stops_with_a_configuration_error(tmp_path: Path) -> None:
    service = build_service(settings(tmp_path))
    try:
        with pytest.raises(ConfigurationError, match="dashboard = false"):
            service.web_app()
    finally:
        service.close()


def test_with_the_dashboard_off_and_no_webhooks_there_is_no_web_server(tmp_path: Path) -> None:
    service = build_service(settings(tmp_path, dashboard=False))
    try:
        assert service.web_app() is None
    finally:
        service.close()
