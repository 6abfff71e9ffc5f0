"""The policy page in a real browser: a rejected change, the files' check and a stored replay, hostile text inert.

Headless Chromium (Playwright) against the dashboard served on a real port over a stored history
and one replay. Screenshots go to `test-artifacts/dashboard/`.
"""

from __future__ import annotations

import copy
import re
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from policies.loader import default_policy_path, load_policies
from storage.db import make_engine
from storage.migrate import upgrade
from storage.policy_versions import PolicyVersionFacts, record_rejected
from storage.replays import save_replay
from storage.users import add_user
from tactful.clock import FrozenClock
from tactful.policy_source import PolicySource
from tactful.replay import replay_policy
from tactful.web.app import WebServer, create_app
from tactful.web.dashboard import DashboardConfig
from tests.browser_helpers import CHROMIUM, CHROMIUM_ARGS, PASSWORD, Screenshots
from tests.factories import BASE_TIME
from tests.replay_helpers import ROUTES, build, changed_policy

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)",
    ),
]
playwright = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need the playwright package (pip install -e '.[dev]')"
)
expect = playwright.expect
expect.set_options(timeout=15_000)

HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'
CSP_PROBE = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.effectiveDirective + " " + e.blockedURI);
});
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """The dashboard on a real port over a history with one stored replay; yields (URL, replay id)."""
    db = make_engine(f"sqlite:///{tmp_path / 'tactful.db'}")
    upgrade(db)
    clock = FrozenClock(BASE_TIME)
    build(db, load_policies([default_policy_path()]))
    new = changed_policy(tmp_path)
    report = copy.deepcopy(replay_policy(db, new, private_routes=ROUTES).report)
    report["changed"]["items"][0]["text"] = HOSTILE  # as if a customer had written it
    replay_id = save_replay(
        db,
        now=clock.now(),
        policy_version=new.version,
        source=new.source,
        since=None,
        summary=report,
        actor="mia",
    )
    with db.begin() as conn:  # a later change rejected with an error line echoing hostile text
        facts = PolicyVersionFacts("0badc0ffee00", f"/etc/tactful/{HOSTILE}.yaml", None, "mia")
        record_rejected(
            conn, facts, f"/etc/tactful/policy.yaml:3:5: error: {HOSTILE}", BASE_TIME + timedelta(days=3)
        )
    add_user(db, "maria", "manager", PASSWORD, "browser test", clock.now())
    config = DashboardConfig(
        session_secret=secrets.token_urlsafe(32), secure_cookies=False, policy=PolicySource(None).current
    )
    web = WebServer(create_app(db, clock, dashboard=config), "127.0.0.1", 0)
    web.start()
    try:
        yield f"http://127.0.0.1:{web.port}", replay_id
    finally:
        web.stop()
        db.dispose()


@pytest.fixture
def page(request: pytest.FixtureRequest) -> Iterator[Any]:
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context()
        context.set_default_timeout(15_000)
        opened = context.new_page()
        opened.add_init_script(CSP_PROBE)
        failed_before = request.session.testsfailed
        yield opened
        if request.session.testsfailed > failed_before:
            Screenshots.for_test(f"{request.node.name}-failed").take(opened, "failed")
        context.close()
        browser.close()


def test_a_manager_reads_the_check_and_a_replay_and_hostile_text_stays_text(
    served: tuple[str, int], page: Any, request: pytest.FixtureRequest
) -> None:
    url, replay_id = served
    shots = Screenshots.for_test(request.node.name)
    page.goto(url + "/policy")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Name").fill("maria")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(url + "/policy")
    expect(page.locator("#policy-check-status")).to_contain_text("Valid: 0 errors")
    rejection = page.locator("#policy-rejection")
    expect(rejection).to_contain_text("0badc0ffee00 was not put in force")
    expect(rejection).to_contain_text("keeps running")
    expect(rejection.locator("pre.issues")).to_have_text(f"/etc/tactful/policy.yaml:3:5: error: {HOSTILE}")
    replay_row = page.locator("table.replays tbody tr", has_text="mia")
    expect(replay_row).to_contain_text("all history")
    shots.take(page, "policy page")

    page.get_by_role("link", name=f"#{replay_id}").click()
    expect(page).to_have_url(f"{url}/policy/replays/{replay_id}")
    expect(page.get_by_role("heading", name="Acknowledgements that would now go out: 2")).to_be_visible()
    expect(page.get_by_role("heading", name="Trolls newly hidden: 2")).to_be_visible()
    started = page.locator("#acks_started table tbody tr", has_text="@cat")
    expect(started).to_contain_text('acknowledge "Thank you, Cat! That made our day."')
    expect(started).to_contain_text("love my new vacuum <b>really</b>")  # shown as typed
    expect(page.locator("#changed td.text", has_text=HOSTILE)).to_have_count(1)
    shots.take(page, "replay detail")
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("window.__csp") == [], "the pages must need nothing the CSP forbids"
