"""The web pages in a real headless Chromium (Playwright, Debian's chromium) against a live
uvicorn server: sign-in, prospect check, what-if, portfolio alerts, customer and model cards.

Every test fails on a browser console error or an uncaught page error, and saves screenshots of
its pages at desktop and phone width (test-artifacts/screenshots/), checking that the phone
layout has no horizontal scroll.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from features.siren import luhn_is_valid
from tests.conftest import require_part

from .conftest import WORSENED, Keys, LiveServer

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 20_000

try:
    from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
except ImportError:  # the dev extra is not installed: require_part says so below
    sync_playwright = None  # type: ignore[assignment]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_part(sync_playwright is not None, "Playwright (pip install playwright)")
    require_part(CHROMIUM.exists() or shutil.which("chromium") is not None,
                 "Chromium (apt-get install chromium)")  # fmt: skip
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")),
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        yield launched
        launched.close()


@dataclass
class Tab:
    """A browser page that records console errors and page errors."""

    page: Page
    base: str
    errors: list[str] = field(default_factory=list)

    def open(self, path: str) -> None:
        self.page.goto(self.base + path)

    def snap(self, name: str) -> None:
        """Screenshots at desktop and phone width; the phone layout must not scroll sideways."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}-desktop.png"), full_page=True)
        self.page.set_viewport_size(PHONE)
        widths = self.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=True)
        self.page.set_viewport_size(DESKTOP)
        assert widths[0] <= widths[1], f"{name}: horizontal scroll at 390 px ({widths})"


def _tab(context: BrowserContext, base: str) -> Iterator[Tab]:
    context.set_default_timeout(TIMEOUT_MS)
    tab = Tab(context.new_page(), base)
    tab.page.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
    tab.page.on("pageerror", lambda e: tab.errors.append(str(e)))
    yield tab
    context.close()
    assert tab.errors == [], f"browser errors: {tab.errors}"


def _signed_in(browser: Browser, server: LiveServer, token: str) -> Iterator[Tab]:
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    context.add_cookies([{"name": "credit_risk_key", "value": token, "url": server.url}])
    yield from _tab(context, server.url)


@pytest.fixture
def anonymous(browser: Browser, live_server: LiveServer) -> Iterator[Tab]:
    yield from _tab(browser.new_context(viewport=DESKTOP), live_server.url)  # type: ignore[arg-type]


@pytest.fixture
def rep(browser: Browser, live_server: LiveServer, keys: Keys) -> Iterator[Tab]:
    yield from _signed_in(browser, live_server, keys.sales)


@pytest.fixture
def admin(browser: Browser, live_server: LiveServer, keys: Keys) -> Iterator[Tab]:
    yield from _signed_in(browser, live_server, keys.everything)


def _customer_company(portfolio: dict[str, pd.DataFrame]) -> tuple[str, str, str]:
    """A customer with a SIREN and a registry name: (customer_id, siren, name)."""
    customers = portfolio["customer"].dropna(subset=["siren"])
    companies = portfolio["company"].set_index("siren")
    row = customers[customers["siren"].isin(companies.index)].iloc[0]
    return str(row["customer_id"]), str(row["siren"]), str(companies.loc[row["siren"], "name"])


def test_sign_in_refuses_a_wrong_key_then_lets_the_right_one_in(anonymous: Tab, keys: Keys) -> None:
    page = anonymous.page
    anonymous.open("/")
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    anonymous.snap("sign-in")
    page.fill("#api_key", "crk_wrong_key")
    page.click("button[type=submit]")
    expect(page.locator("#sign-in-error")).to_contain_text("Clé inconnue ou révoquée")
    anonymous.snap("sign-in-refused")
    page.fill("#api_key", keys.sales)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/check$"))
    expect(page.locator("h1")).to_have_text("Vérifier un client ou un prospect")
    page.click("text=Se déconnecter")
    expect(page).to_have_url(re.compile(r"/sign-in\?signed_out=true$"))


def test_search_by_siren_shows_grade_and_terms(
    rep: Tab, portfolio: dict[str, pd.DataFrame]
) -> None:
    _, siren, name = _customer_company(portfolio)
    page = rep.page
    rep.open("/check")
    page.fill("#q", f"{siren[:3]} {siren[3:6]} {siren[6:]}")
    page.click("form.search button")
    expect(page.locator("#subject-name")).to_have_text(name)
    expect(page.locator("#grade")).to_have_text(re.compile(r"^[A-E]$"))
    expect(page.locator("#p-late")).to_contain_text("%")
    expect(page.locator("#terms-deadline")).to_contain_text("jours")
    expect(page.locator("#terms-indemnity")).to_contain_text("40")
    expect(page.locator("#dunning-timeline li.due")).to_have_count(1)
    assert page.locator("#dunning-timeline li.step").count() >= 2
    rep.snap("score-card")


def test_search_by_name_then_score(rep: Tab, portfolio: dict[str, pd.DataFrame]) -> None:
    _, _, name = _customer_company(portfolio)
    page = rep.page
    rep.open(f"/check?q={name[:5]}")
    match = page.locator("#matches li", has_text=name).first
    expect(match).to_be_visible()
    rep.snap("search-by-name")
    match.locator("a.button").click()
    expect(page.locator("#score-card")).to_be_visible()
    expect(page.locator("#reasons li").first).to_be_visible()


def test_what_if_updates_the_terms_in_place(rep: Tab) -> None:
    page = rep.page
    rep.open("/check/score?customer_id=C00002&amount=1000&terms_days=30")
    page.evaluate("window.stillHere = true")
    decision = page.locator("#score-card footer").inner_text()
    terms = page.locator("#terms").inner_text()
    page.fill("#amount", "400000")
    page.fill("#terms_days", "60")
    page.click("#what-if button")
    expect(page.locator("#score-card footer")).not_to_have_text(decision)
    assert page.locator("#terms").inner_text() != terms
    assert page.evaluate("window.stillHere") is True  # updated without reloading the page
    expect(page).to_have_url(re.compile(r"amount=400000"))
    rep.snap("what-if")


def test_portfolio_alert_leads_to_the_customer_card(admin: Tab, live_server: LiveServer) -> None:
    page = admin.page
    admin.open("/portfolio")  # starts today's scoring if no page did yet
    # On a loaded machine the scoring can outlast the page's own reloads: wait for it here.
    live_server.app.state.web.scoring.wait(60)
    admin.open("/portfolio")
    expect(page.locator("#by-grade")).to_be_visible()
    expect(page.locator("#aged-balance rect")).to_have_count(5)
    worsened = page.locator("#alerts-worsened a")
    expect(worsened.first).to_be_visible()
    admin.snap("portfolio")
    customer = worsened.first.inner_text()
    worsened.first.click()
    expect(page).to_have_url(re.compile(r"/customers/(" + "|".join(WORSENED) + ")$"))
    expect(page.locator("#customer-card h1")).to_have_text(customer)
    expect(page.locator("#grade-chart circle").first).to_be_visible()
    expect(page.locator("#invoice-history tbody tr").first).to_be_visible()
    admin.snap("customer-card")


def test_model_card_shows_plots_or_says_why_and_drift(admin: Tab, live_server: LiveServer) -> None:
    page = admin.page
    admin.open("/model")  # the first page seen starts today's portfolio scoring, if no test has
    live_server.app.state.web.scoring.wait(60)  # drift reads today's portfolio features
    admin.open("/model")
    expect(page.locator("#model-version")).to_contain_text("test-v1")
    expect(page.locator("#no-registry")).to_be_visible()  # the tests serve a bundle directory
    expect(page.locator("#no-plots")).to_be_visible()
    expect(page.locator("#drift-table tbody tr").first).to_be_visible()
    expect(page.locator("#drift")).to_contain_text("0,10")
    expect(page.locator("#policy-version")).to_have_text("2026.1")
    expect(page.locator("#policy-penalty")).to_contain_text("BCE + 10 points")
    admin.snap("model-card")


def test_a_sole_trader_card_asks_for_a_human_review(rep: Tab, sole_trader_siren: str) -> None:
    rep.open(f"/check?q={sole_trader_siren}")
    expect(rep.page.locator("#review-notice")).to_contain_text("une personne doit examiner")
    rep.snap("sole-trader")


def test_an_invalid_siren_states_the_checksum_rule(rep: Tab) -> None:
    invalid = next(f"73282932{d}" for d in "0123456789" if not luhn_is_valid(f"73282932{d}"))
    rep.open(f"/check?q={invalid}")
    expect(rep.page.locator("#search-error")).to_contain_text("Luhn")
    expect(rep.page.locator("#search-error")).to_contain_text("multiple de 10")
    rep.snap("invalid-siren")


def test_the_english_switch_translates_the_page(rep: Tab) -> None:
    page = rep.page
    rep.open("/check/score?customer_id=C00001")
    page.click("a.lang")
    expect(page.locator("h1")).to_have_text("Check a customer or a prospect")
    expect(page.locator("#score-card")).to_contain_text("Recommended terms")
    rep.snap("score-card-english")
    rep.open("/portfolio?lang=fr")
