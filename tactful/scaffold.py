"""`tactful init`: a starter configuration and policy a brand can edit."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from policies.loader import default_policy_path

CONFIG_TEMPLATE = """\
# tactful configuration. Every key can be overridden by TACTFUL_<SECTION>__<KEY>.
# Secrets are never read from this file: set them in the environment
# (TACTFUL_X__BEARER_TOKEN, TACTFUL_X__CONSUMER_KEY, TACTFUL_X__CONSUMER_SECRET,
# TACTFUL_X__ACCESS_TOKEN, TACTFUL_X__ACCESS_TOKEN_SECRET) or point <name>_file at a file.

[storage]
url = "sqlite:///./tactful.db"   # or postgresql+psycopg://user@host/db

[policy]
path = "policy.yaml"             # your conduct policy: tactful policy check policy.yaml after every edit
reload_seconds = 2               # tactful run puts a changed policy in force if it passes the check

[web]
host = "127.0.0.1"
port = 8080
dashboard = true                 # add people with: tactful user add NAME --role agent|manager|admin
session_secret_file = "session_secret"   # written by tactful init (random, readable by you only)

[processing]
batch_size = 500
interval_seconds = 0.25
send_interval_seconds = 0.25
# shadow = ["x", "facebook", "telegram"]   # dry run: decide and record, never send (README: Shadow mode)

[x]
enabled = false
user_id = ""                     # the brand account's numeric id
username = ""                    # the brand account's handle, without @
search_query = ""                # e.g. "acme -is:retweet"
api_base_url = "https://api.twitter.com"
poll_seconds = 60
"""


def write_scaffold(directory: Path, force: bool = False) -> list[Path]:
    """Create tactful.toml and policy.yaml in `directory`; refuse to overwrite unless forced."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "tactful.toml"
    policy = directory / "policy.yaml"
    if not force:
        existing = [p for p in (config, policy) if p.exists()]
        if existing:
            from tactful.errors import ConfigurationError

            raise ConfigurationError(f"{existing[0]} exists; use --force to overwrite")
    config.write_text(CONFIG_TEMPLATE, encoding="utf-8")
    shutil.copyfile(default_policy_path(), policy)
    written = [config, policy]
    secret = directory / "session_secret"
    if force or not secret.exists():
        _write_private(secret, secrets.token_urlsafe(48) + "\n")
        written.append(secret)
    return written


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (created with mode 0600, never world-readable)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
