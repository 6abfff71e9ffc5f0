"""The stats page in a real browser, from real traffic: its SVG charts render under the strict CSP.

Customers write on X and in a Telegram group over three simulated days; the service processes
and acknowledges them on the simulators, and a person answers some through the queue. A manager
then opens /stats in headless Chromium: the three charts (response-time distribution, trend per
day, backlog) are drawn from that data, no CSP violation is reported, and screenshots go to
`test-artifacts/dashboard/`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from storage import tables as t
from storage.queue_actions import reply_to_item
from tests.browser_helpers import CHROMIUM, CHROMIUM_ARGS, GROUP, PASSWORD, Screenshots, Stack, running_stack

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

CSP_PROBE = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.effectiveDirective + " " + e.blockedURI);
});
"""
COMPLAINTS = (
    "@acme my order #{n} arrived broken and I want a refund",
    "@acme still waiting for my parcel {n}, nobody answers",
    "@acme the kettle I bought ({n}) stopped working, help please",
)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path) as running:
        yield running


def traffic(stack: Stack) -> None:
    """Three days of customers on X and Telegram; people answer every other waiting item."""
    stack.add_user("maria", "manager")
    stack.tg.add_group(GROUP, "Acme customers")
    n = 0
    for day in range(3):
        for hour in range(4):
            for i, text in enumerate(COMPLAINTS):
                n += 1
                stack.x.add_user(str(3000 + n), f"cust{n}", f"Customer {n}")
                stack.x.post(str(3000 + n), text.format(n=n))
                stack.tg.add_user(600 + n, f"Tg{n}", username=f"tg{n}")
                stack.tg.user_says(GROUP, 600 + n, f"Hello, my Acme order {n} is late, can you help? ({i})")
            stack.settle()
            stack.clock.advance(timedelta(minutes=7 + 20 * hour + 9 * day))
            waiting = stack.rows(select(t.review_items.c.id).where(t.review_items.c.status == "open"))
            for row in waiting[::2]:
                reply_to_item(
                    stack.service.db,
                    row.id,
                    "Sorry about this, we are on it.",
                    "maria",
                    stack.clock.now(),
                    request_key=f"stats-browser-{row.id}-0000",
                )
            stack.service.dispatch()
            stack.clock.advance(timedelta(hours=3))
        stack.clock.advance(timedelta(hours=12))


def test_the_stats_page_draws_its_charts_from_real_data(stack: Stack) -> None:
    traffic(stack)
    rc = t.response_conversations
    conversations = stack.rows(select(rc.c.platform, rc.c.human_ms, rc.c.automated_ms))
    assert {row.platform for row in conversations} == {"x", "telegram"}
    assert any(row.human_ms is not None for row in conversations)
    shots = Screenshots.for_test("stats page charts")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.add_init_script(CSP_PROBE)
            page.goto(stack.url + "/stats")
            page.get_by_label("Name").fill("maria")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page).to_have_url(stack.url + "/stats")
            charts = page.locator("svg.chart")
            expect(charts).to_have_count(3)
            for i in range(3):
                chart = charts.nth(i)
                expect(chart).to_be_visible()
                box = chart.bounding_box()
                assert box is not None and box["width"] > 300 and box["height"] > 100
            bars = page.locator("svg.chart").nth(0).locator("rect.s-any")
            heights = [float(bars.nth(i).get_attribute("height") or 0) for i in range(bars.count())]
            assert sum(h > 0 for h in heights) >= 2, heights  # responses fall into several buckets
            assert page.locator("svg.chart").nth(1).locator("polyline.s-any").count() >= 1
            expect(page.locator("svg.chart").nth(2).locator("rect.s-volume")).not_to_have_count(0)
            colour = (
                page.locator("svg.chart")
                .nth(0)
                .locator("rect.s-any")
                .first.evaluate("e => getComputedStyle(e).fill")
            )
            assert colour == "rgb(31, 95, 191)", "the stylesheet colours the bars (no inline style)"
            expect(page.locator("table.stats")).to_contain_text("telegram")
            assert page.evaluate("window.__csp") == []
            shots.take(page, "stats page")
            page.goto(stack.url + "/stats?days=7")
            expect(page.locator("table.stats")).to_contain_text("7d")
            expect(page.locator("svg.chart")).to_have_count(3)
            shots.take(page, "stats 7 days")
            assert page.evaluate("window.__csp") == []
        finally:
            browser.close()
    assert all(path.exists() and path.stat().st_size > 10_000 for path in shots.taken)
