"""The managers' policy page over HTTP: the version in force, a rejected change, the history, the check, replays."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine

from moderation.classifier import Moderator
from policies.loader import default_policy_path, load_policies
from storage.replays import save_replay
from tactful.clock import FrozenClock
from tactful.policy_source import PolicySource
from tactful.replay import replay_policy
from tactful.service import build_service
from tactful.settings import PolicySettings, Settings, StorageSettings
from tactful.web.app import create_app
from tactful.web.dashboard import DashboardConfig
from tests.dashboard_helpers import SECRET, TestClient, add, default_policy, logged_in, login
from tests.replay_helpers import ROUTES, build, changed_policy

HOSTILE = "<script>window.__pwned=1</script>"


def check_status(html: str) -> str:
    """The policy page's line saying whether the configured files pass the check, in one line."""
    found = re.search(r'id="policy-check-status">(.*?)</p>', html, re.S)
    assert found is not None, "no check status on the page"
    return " ".join(found.group(1).split())


@pytest.fixture
def replay_id(db: Engine, clock: FrozenClock, tmp_path: Path) -> int:
    """A history built under the shipped policy and one stored replay of a changed policy over it."""
    build(db, load_policies([default_policy_path()]))
    new = changed_policy(tmp_path)
    result = replay_policy(db, new, private_routes=ROUTES)
    return save_replay(
        db,
        now=clock.now(),
        policy_version=new.version,
        source=new.source,
        since=None,
        summary=result.report,
        actor="mia",
    )


def test_a_manager_sees_the_files_check_the_recorded_versions_and_the_replays(
    db: Engine, clock: FrozenClock, replay_id: int
) -> None:
    manager = logged_in(db, clock, "maria", "manager")
    page = manager.get("/policy")
    assert page.status_code == 200
    html = page.text
    version = default_policy().current().version
    assert check_status(html).startswith("Valid: 0 errors, ")
    assert f'<code>{version}</code> <span class="badge status-open">in force</span>' in html
    assert f'href="/policy/replays/{replay_id}"' in html
    row = re.search(rf'<a href="/policy/replays/{replay_id}">.*?</tr>', html, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num">(\d+)</td>', row.group(0))
    assert cells == ["9", "6", "2", "2", "2"]  # messages, changed, acks started, stopped, trolls hidden
    assert "mia" in row.group(0) and "all history" in row.group(0)
    assert "own-account" in html  # the rules are still listed


def test_the_replay_page_lists_counts_and_changed_messages_as_text(
    db: Engine, clock: FrozenClock, replay_id: int
) -> None:
    manager = logged_in(db, clock, "maria", "manager")
    page = manager.get(f"/policy/replays/{replay_id}")
    assert page.status_code == 200
    html = page.text
    assert "Acknowledgements that would now go out: 2" in html
    assert "Acknowledgements that would no longer go out: 2" in html
    assert "Trolls newly hidden: 2" in html
    assert "Messages whose actions change: 6" in html
    assert "acknowledge &#34;Thank you, Cat! That made our day.&#34;" in html
    assert "love my new vacuum &lt;b&gt;really&lt;/b&gt;" in html and "<b>really</b>" not in html
    hide = re.search(r"<td>hide</td><td class=\"num\">(\d+)</td><td class=\"num\">(\d+)</td>", html)
    assert hide is not None and hide.groups() == ("0", "2")
    assert "<script" not in html  # no script at all, inline or not
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_agents_and_strangers_may_not_see_replays(db: Engine, clock: FrozenClock, replay_id: int) -> None:
    agent = logged_in(db, clock, "alan", "agent")
    assert agent.get(f"/policy/replays/{replay_id}").status_code == 403
    assert agent.get("/policy").status_code == 403
    stranger = logged_in(db, clock, "sam", "manager")
    stranger.cookies.clear()
    gone = stranger.get(f"/policy/replays/{replay_id}", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login?next=")


def test_an_unknown_replay_is_not_found(db: Engine, clock: FrozenClock) -> None:
    admin = logged_in(db, clock, "ada", "admin")
    page = admin.get("/policy/replays/999")
    assert page.status_code == 404 and "There is no replay #999." in page.text
    assert admin.get("/policy").status_code == 200 and "No replays yet." in admin.get("/policy").text


def test_configured_files_that_no_longer_pass_the_check_show_as_invalid_with_their_errors(
    db: Engine, clock: FrozenClock, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    shutil.copy(default_policy_path(), policy)
    source = PolicySource(policy)
    config = DashboardConfig(session_secret=SECRET, secure_cookies=False, policy=source.current)
    client = TestClient(create_app(db, clock, dashboard=config))
    add(db, clock, "maria", "manager")
    assert login(client, "maria").status_code == 303
    assert check_status(client.get("/policy").text).startswith("Valid: 0 errors")

    # An unknown key is echoed in the error line: a file's contents are shown as text too.
    broken = policy.read_text(encoding="utf-8").replace(
        "    when: {category: [praise]}", f"    when: {{category: [praise], '{HOSTILE}': 1}}"
    )
    policy.write_text(broken, encoding="utf-8")
    html = client.get("/policy").text
    assert check_status(html).startswith("Invalid: 1 error, ")
    assert f"{policy}:" in html and "unknown key" in html
    assert HOSTILE not in html and "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert source.current().version in html  # the version in force is still shown


def versions_table(html: str) -> dict[str, str]:
    """The version history table: each row's version and its status, as shown."""
    table = re.search(r'<table class="versions">(.*?)</table>', html, re.S)
    assert table is not None, "no version history on the page"
    rows = re.findall(r'<tr class="version-(\w+)">\s*<td><code>(\w+)</code>', table.group(1))
    return {version: status for status, version in rows}


def rejection_notice(html: str) -> str | None:
    """The prominent rejected-change section, or None when the page has none."""
    found = re.search(r'<section class="policy-rejected" id="policy-rejection">(.*?)</section>', html, re.S)
    return None if found is None else found.group(1)


def test_a_rejected_change_is_shown_with_its_errors_while_the_last_good_version_keeps_running(
    db_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    folder = tmp_path / "<b>policies"  # file names are shown as text too
    folder.mkdir()
    policy = folder / "policy.yaml"
    shutil.copy(default_policy_path(), policy)
    settings = Settings(storage=StorageSettings(url=db_url), policy=PolicySettings(path=policy))
    service = build_service(settings, clock=clock, scoring=Moderator())
    try:
        config = DashboardConfig(session_secret=SECRET, secure_cookies=False, policy=service.policy.current)
        client = TestClient(create_app(service.db, clock, dashboard=config))
        add(service.db, clock, "maria", "manager")
        assert login(client, "maria").status_code == 303
        good = service.policy.current()
        html = client.get("/policy").text
        assert rejection_notice(html) is None
        in_force = re.search(r'<dl class="facts" id="policy-in-force">(.*?)</dl>', html, re.S)
        assert in_force is not None
        assert f"<code>{good.version}</code>" in in_force.group(1)
        assert f"<code>{good.content_hash}</code>" in in_force.group(1)
        assert versions_table(html) == {good.version: "active"}

        clock.advance(60)
        policy.write_text(
            policy.read_text(encoding="utf-8").replace(
                "    when: {category: [praise]}", f"    when: {{category: [praise], '{HOSTILE}': 1}}"
            ),
            encoding="utf-8",
        )
        assert service.reload_policy() is None  # seen, not yet settled
        clock.advance(2)
        change = service.reload_policy()
        assert change is not None and change.status == "rejected"
        assert service.policy.current().version == good.version

        html = client.get("/policy").text
        notice = rejection_notice(html)
        assert notice is not None, "a rejection newer than the version in force is shown"
        assert f"version <code>{change.facts.version}</code> was not put in force" in notice
        assert f"The last good version, <code>{good.version}</code>, keeps running." in notice
        errors = re.search(r'<pre class="issues">(.*?)</pre>', notice, re.S)
        assert errors is not None and "unknown key" in errors.group(1)
        assert re.search(r"policy\.yaml:\d+:\d+: error: ", errors.group(1)), "file:line:col error lines"
        assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in errors.group(1)
        assert "&lt;b&gt;policies/policy.yaml" in notice
        assert HOSTILE not in html and "<b>policies" not in html
        assert f"<code>{good.version}</code>" in html.split('id="policy-in-force"', 1)[1].split("</dl>")[0]
        assert versions_table(html) == {change.facts.version: "rejected", good.version: "active"}

        clock.advance(60)
        policy.write_text(default_policy_path().read_text(encoding="utf-8") + "# fixed\n", encoding="utf-8")
        service.reload_policy()
        clock.advance(2)
        fixed = service.reload_policy()
        assert fixed is not None and fixed.status == "active"
        html = client.get("/policy").text
        assert rejection_notice(html) is None, "an older rejection is only listed in the history"
        assert f'<code>{fixed.facts.version}</code> <span class="badge status-open">in force</span>' in html
        assert versions_table(html) == {
            fixed.facts.version: "active",
            change.facts.version: "rejected",
            good.version: "active",
        }
        assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html  # still in the history's errors
        assert HOSTILE not in html
    finally:
        service.close()
