"""The dashboard in a real browser: headless Chromium (Playwright) against the service on the X and Telegram simulators.

An agent logs in, watches the queue fill without reloading, claims an item, replies (and the X
simulator receives the reply in the customer's conversation), labels it troll and resolves it.
Hostile text renders as text, pages work under the Content-Security-Policy, which blocks inline
script, and sessions and roles hold. Screenshots of each step go to `test-artifacts/dashboard/`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from storage import tables as t
from tests.browser_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    GROUP,
    PASSWORD,
    Screenshots,
    Stack,
    running_stack,
)

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
expect.set_options(timeout=15_000)  # generous for a loaded CI machine; passing runs never wait it out

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
ANGRY = "@acme you useless clowns, my order #4411 arrived broken and I want a refund NOW"
REPLY = "Hello Carol, I'm sorry about order #4411. I've sent a replacement today, tracking by email."
GROUP_TEXT = "Hi, my Acme kettle stopped working after a week. Can I get a replacement?"
#: Collects every Content-Security-Policy violation the page reports (init scripts are not subject to CSP).
CSP_PROBE = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.effectiveDirective + " " + e.blockedURI);
});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path) as running:
        yield running


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Screenshots:
    return Screenshots.for_test(request.node.name)


@pytest.fixture
def new_page(browser: Any, shots: Screenshots, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Open pages in fresh contexts (`bypass_csp` optional); on failure, screenshot each as it was."""
    contexts: list[Any] = []
    failed_before = request.session.testsfailed

    def open_page(**options: Any) -> Any:
        context = browser.new_context(**options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.clock.install()  # the queue's refresh timer runs when the test says so
        return page

    yield open_page
    for context in contexts:
        if request.session.testsfailed > failed_before:
            for page in context.pages:
                shots.take(page, "failed")
        context.close()


def log_in(page: Any, stack: Stack, name: str, path: str = "/queue") -> None:
    """Open `path`, get sent to the login form, log in, and arrive at `path`."""
    page.goto(stack.url + path)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(stack.url + path)


def refresh_queue(page: Any) -> None:
    """Let the page's refresh timer fire once (its fetch then runs for real)."""
    seconds = float(page.locator("#queue-live").get_attribute("data-poll-seconds"))
    page.clock.run_for(int(seconds * 1000) + 100)


def queue_row(page: Any, text: str) -> Any:
    """The queue rows whose text contains `text`."""
    return page.locator("table.queue tbody tr", has_text=text)


def notice(page: Any) -> Any:
    """The item page's confirmation line."""
    return page.locator("p.notice[role=status]")


def test_an_agent_works_an_item_from_live_traffic_to_resolved(
    stack: Stack, new_page: Any, shots: Screenshots
) -> None:
    stack.add_user("alice")
    stack.x.add_user("2001", "carol", "Carol Jones")
    stack.tg.add_group(GROUP, "Acme customers")
    stack.tg.add_user(501, "Dave", username="dave")
    page = new_page()

    log_in(page, stack, "alice")
    expect(page.locator("p.empty")).to_have_text("Nothing matches: the queue is clear.")
    expect(page.locator("#count-open")).to_have_text("0")
    shots.take(page, "empty queue after login")
    page.evaluate("window.__sameDocument = true")

    tweet = stack.x.post("2001", ANGRY)
    stack.tg.user_says(GROUP, 501, GROUP_TEXT)
    stack.settle()
    refresh_queue(page)
    expect(queue_row(page, "arrived broken")).to_have_count(1)
    expect(queue_row(page, "kettle stopped working")).to_contain_text("telegram")
    expect(page.locator("#count-open")).not_to_have_text("0")
    assert page.evaluate("window.__sameDocument") is True, "the list must refresh without a reload"
    shots.take(page, "queue filled live")

    item = stack.item_for("x", tweet)
    queue_row(page, "arrived broken").get_by_role("link", name=str(item), exact=True).click()
    expect(page).to_have_url(f"{stack.url}/queue/{item}")
    expect(page.locator("article.message").first).to_contain_text("arrived broken")
    shots.take(page, "item opened")

    page.get_by_role("button", name="Claim").click()
    expect(notice(page)).to_have_text("You claimed this item.")
    expect(page.locator("h1 .badge")).to_have_text("claimed")
    shots.take(page, "claimed")

    page.locator("form[action$='/reply'] textarea[name=text]").fill(REPLY)
    page.get_by_role("button", name="Send reply").click()
    expect(notice(page)).to_have_text("Reply queued; it goes out in a moment.")
    assert stack.service.dispatch() >= 1
    replies = [r for r in stack.x.brand_replies() if r.text == REPLY]
    assert [(r.in_reply_to_tweet_id, r.conversation_id) for r in replies] == [(tweet, tweet)]
    page.reload()
    sent = page.locator("ul.outbox li", has_text=REPLY)
    expect(sent.locator(".badge")).to_have_text("sent")
    expect(sent).to_contain_text("human")
    shots.take(page, "reply sent")

    customer = page.locator("article.message:not(.brand)", has_text="arrived broken")
    customer.get_by_role("button", name="troll", exact=True).click()
    expect(notice(page)).to_have_text("Label saved.")
    expect(page.locator("article.message:not(.brand)", has_text="arrived broken")).to_contain_text(
        "offensive=offensive"
    )
    shots.take(page, "labelled troll")

    page.locator("form[action$='/resolve'] input[name=note]").fill("replacement sent")
    page.get_by_role("button", name="Resolve").click()
    expect(notice(page)).to_have_text("Resolved.")
    expect(page.locator("h1 .badge")).to_have_text("resolved")
    shots.take(page, "resolved")

    page.get_by_role("link", name="← Queue").click()
    expect(queue_row(page, "kettle stopped working")).to_have_count(1)
    expect(queue_row(page, "arrived broken")).to_have_count(0)
    shots.take(page, "queue after resolving")

    audit = t.audit_log
    actions = [
        row.action
        for row in stack.rows(select(audit.c.action).where(audit.c.actor == "alice").order_by(audit.c.id))
    ]
    assert actions == [
        "auth.login",
        "queue.claim",
        "queue.reply",
        "label.set",
        "queue.resolve",
    ]
    o = t.outbox
    human = stack.rows(select(o.c.rule_id, o.c.policy_version, o.c.status).where(o.c.text == REPLY))
    assert [tuple(row) for row in human] == [("human", "human:alice", "sent")]


def test_hostile_text_and_names_render_as_inert_text(stack: Stack, new_page: Any, shots: Screenshots) -> None:
    stack.add_user("alice")
    stack.x.add_user("3001", "mallory", f"Mallory {SCRIPT}{IMG}")
    stack.tg.add_group(GROUP, "Acme customers")
    stack.tg.add_user(666, f"{SCRIPT}{IMG}")  # no username: the queue shows the display name
    # With the CSP bypassed, only the escaping stands between the payloads and the page.
    page = new_page(bypass_csp=True)
    log_in(page, stack, "alice")

    tweet = stack.x.post("3001", f"@acme {SCRIPT} my refund {IMG} never came")
    stack.tg.user_says(GROUP, 666, f"{IMG} where is my order? {SCRIPT}")
    stack.settle()
    refresh_queue(page)  # first through the live fragment (innerHTML)…
    expect(queue_row(page, "my refund")).to_contain_text(f"{SCRIPT} my refund {IMG} never came")
    expect(queue_row(page, "where is my order")).to_contain_text(f"{SCRIPT}{IMG}")
    assert_inert(page)
    shots.take(page, "payloads in the live queue")

    page.reload()  # …then server-rendered
    expect(queue_row(page, "my refund")).to_have_count(1)
    assert_inert(page)

    page.goto(f"{stack.url}/queue/{stack.item_for('x', tweet)}")
    expect(page.locator("article.message p.text").first).to_have_text(
        f"@acme {SCRIPT} my refund {IMG} never came"
    )
    expect(page.locator("aside.side")).to_contain_text(f"(Mallory {SCRIPT}{IMG})")
    assert_inert(page)
    shots.take(page, "payloads on the item page")

    page.goto(f"{stack.url}/queue/{stack.item_for('telegram', telegram_message_id(stack))}")
    expect(page.locator("article.message header strong").first).to_have_text(f"{SCRIPT}{IMG}")
    assert_inert(page)


def telegram_message_id(stack: Stack) -> str:
    """The external id of the one message stored from the Telegram group."""
    m = t.messages
    (row,) = stack.rows(select(m.c.external_id).where(m.c.platform == "telegram"))
    return str(row.external_id)


def assert_inert(page: Any) -> None:
    """No payload ran and none became an element: no image, no inline script."""
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img").count() == 0
    assert page.locator("script:not([src])").count() == 0


def test_pages_work_under_the_csp_which_blocks_inline_script(
    stack: Stack, new_page: Any, shots: Screenshots
) -> None:
    stack.add_user("alice")
    stack.x.add_user("2001", "carol", "Carol Jones")
    page = new_page()
    page.add_init_script(CSP_PROBE)
    log_in(page, stack, "alice")
    response = page.reload()
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]

    stack.x.post("2001", "@acme where is my parcel? order #5120, two weeks now")
    stack.settle()
    refresh_queue(page)  # the refresh script is a file, so the CSP lets it run
    expect(queue_row(page, "where is my parcel")).to_have_count(1)
    queue_row(page, "where is my parcel").locator("a").first.click()
    expect(page.locator("article.message").first).to_contain_text("where is my parcel")
    page.get_by_role("button", name="Claim").click()
    expect(notice(page)).to_have_text("You claimed this item.")
    assert page.evaluate("window.__csp") == [], "the dashboard must need nothing the CSP forbids"

    page.evaluate(
        """() => {
          const s = document.createElement("script");
          s.textContent = "window.__inline = 1";
          document.body.appendChild(s);
        }"""
    )
    shots.take(page, "item under csp")
    assert page.evaluate("typeof window.__inline") == "undefined"
    page.wait_for_function("window.__csp.length > 0")
    assert page.evaluate("window.__csp") == ["script-src-elem inline"]


def test_without_a_session_pages_go_to_login_and_agents_cannot_open_manager_pages(
    stack: Stack, new_page: Any, shots: Screenshots
) -> None:
    stack.add_user("alice")
    page = new_page()
    for path in ("/queue", "/queue/1", "/policy", "/report", "/admin/users"):
        page.goto(stack.url + path)
        expect(page).to_have_url(re.compile(r"/login\?next="))
        expect(page.get_by_role("button", name="Log in")).to_be_visible()
    shots.take(page, "login required")

    log_in(page, stack, "alice")
    expect(page.locator("header nav")).not_to_contain_text("Policy")
    for path in ("/policy", "/report", "/admin/users"):
        response = page.goto(stack.url + path)
        assert response is not None and response.status == 403, path
        expect(page.locator("main h1")).to_have_text("403")
    shots.take(page, "agent refused a manager page")
