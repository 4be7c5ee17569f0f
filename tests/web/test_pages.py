"""The web pages through FastAPI's TestClient: sign-in, each page with and without a key, the
prospect check's messages, and how long each page takes (printed, not asserted: see bench/)."""

from __future__ import annotations

import dataclasses
import html
import re
import time
import warnings
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi import FastAPI

from features.drift import SCORE_REFERENCE
from features.scoring_model import ScoringModel
from features.siren import luhn_check_digit, luhn_is_valid
from service.app import create_app
from service.schemas import ScoreRequest
from service.web.portfolio_scoring import PORTFOLIO, read_run
from service.web.session import KEY_COOKIE
from tests.conftest import copy_database
from tests.service.conftest import TODAY, service_settings

from .conftest import Keys, record_previous_scoring, web_app

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

PAGES = ("/check", "/portfolio", "/customers/C00001", "/model")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, web_data_dir: Path, model_dir: Path) -> FastAPI:
    # A database of this module's own: the browser tests' server uses the session one.
    folder = tmp_path_factory.mktemp("web-pages")
    copy_database(web_data_dir / "credit_risk.db", folder / "credit_risk.db")
    return web_app(folder, model_dir)


@pytest.fixture(scope="module")
def client(app: FastAPI, keys: Keys) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as test_client:
        record_previous_scoring(app)
        yield test_client


def signed_in(client: TestClient, token: str) -> TestClient:
    client.cookies.clear()
    client.cookies.set(KEY_COOKIE, token)
    return client


def test_pages_without_a_key_send_to_sign_in(client: TestClient) -> None:
    client.cookies.clear()
    assert client.get("/").headers["location"] == "/sign-in"
    for path in PAGES:
        answer = client.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/sign-in?next=")
    page = client.get("/sign-in")
    assert page.status_code == 200
    assert "Se connecter" in page.text


def test_sign_in_sets_a_strict_http_only_cookie(client: TestClient, keys: Keys) -> None:
    client.cookies.clear()
    answer = client.post("/sign-in", data={"api_key": keys.sales, "next": "/portfolio"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/portfolio"
    cookie = answer.headers["set-cookie"]
    assert f"{KEY_COOKIE}=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie


@pytest.mark.parametrize(
    ("token", "message"),
    [("", "Saisissez une clé"), ("crk_nope_nope", "Clé inconnue ou révoquée")],
)
def test_a_wrong_or_missing_key_shows_the_sign_in_page_with_a_message(
    client: TestClient, token: str, message: str
) -> None:
    client.cookies.clear()
    answer = client.post("/sign-in", data={"api_key": token})
    assert answer.status_code == 200
    assert message in answer.text
    assert "Traceback" not in answer.text


def test_an_off_site_next_is_ignored(client: TestClient, keys: Keys) -> None:
    client.cookies.clear()
    answer = client.post("/sign-in", data={"api_key": keys.sales, "next": "//evil.example"})
    assert answer.headers["location"] == "/check"


def test_every_page_answers_with_a_key_and_says_how_long_it_took(
    client: TestClient, app: FastAPI, keys: Keys
) -> None:
    signed_in(client, keys.everything)
    client.get("/check")  # starts today's portfolio scoring
    app.state.web.scoring.wait(60)
    assert app.state.web.scoring.status == "done", app.state.web.scoring.message
    for path in (*PAGES, "/check?q=a", "/check/score?customer_id=C00002&amount=5000"):
        client.get(path)  # warm
        started = time.perf_counter()
        answer = client.get(path)
        elapsed = time.perf_counter() - started
        print(f"{path}: {elapsed * 1000:.0f} ms")
        assert answer.status_code == 200, (path, answer.text[:500])


def test_sales_may_not_open_the_model_card(client: TestClient, keys: Keys) -> None:
    answer = signed_in(client, keys.sales).get("/model")
    assert answer.status_code == 403
    assert "analyst" in answer.text


def test_the_model_card_shows_the_terms_policy_and_its_penalty(
    client: TestClient, keys: Keys
) -> None:
    page = signed_in(client, keys.analyst).get("/model")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert 'id="policy-version">2026.1<' in text
    assert "12,15\u00a0% l'an (taux de 2026-H1, BCE + 10 points)" in text
    assert "rates-missing" not in text  # 2026-01-05: the rates run to 30 June


def test_the_model_card_warns_of_missing_rates(
    tmp_path: Path, web_data_dir: Path, model_dir: Path, keys: Keys
) -> None:
    copy_database(web_data_dir / "credit_risk.db", tmp_path / "credit_risk.db")
    app = create_app(service_settings(tmp_path, model_dir), today=lambda: date(2026, 12, 7))
    with TestClient(app) as test_client:
        french = html.unescape(signed_in(test_client, keys.analyst).get("/model").text)
        now, soon = re.findall(r'<p class="notice warn rates-missing">([^<]*)</p>', french)
        assert "pas de taux pour 2026-H2, en cours depuis le 01/07/2026" in now
        assert "prennent ceux de 2026-H1 et demandent une vérification" in now
        assert "[interest_rates.2026-H2]" in now
        assert "2027-H1, qui commence le 01/01/2027 (dans 25 jours)" in soon
        english = html.unescape(test_client.get("/model?lang=en").text)
        assert "Policy 2026.1 has no rates for 2026-H2, in force since 2026-07-01" in english
        assert "12.15% a year (2026-H1 rates, ECB + 10 points)" in english


def test_an_analyst_cannot_score_but_can_search(client: TestClient, keys: Keys) -> None:
    signed_in(client, keys.analyst)
    assert client.get("/check?q=a").status_code == 200
    assert client.get("/check/score?customer_id=C00001").status_code == 403


def test_the_page_speaks_english_when_asked_and_remembers(client: TestClient, keys: Keys) -> None:
    signed_in(client, keys.sales)
    answer = client.get("/check?lang=en")
    assert "Check a customer or a prospect" in answer.text
    assert "lang=en" in answer.headers["set-cookie"]
    client.cookies.set("lang", "en")
    assert "Check a customer or a prospect" in client.get("/check").text


def test_an_invalid_siren_explains_the_checksum(client: TestClient, keys: Keys) -> None:
    invalid = next(f"55210055{d}" for d in "0123456789" if not luhn_is_valid(f"55210055{d}"))
    answer = signed_in(client, keys.sales).get(f"/check?q={invalid}")
    assert "la clé de contrôle (Luhn) est fausse" in answer.text
    assert "multiple de 10" in answer.text


def test_an_unknown_valid_siren_offers_to_score_from_company_data(
    client: TestClient, keys: Keys, portfolio: dict[str, pd.DataFrame]
) -> None:
    known = set(portfolio["company"]["siren"])
    siren = next(
        s for n in range(10_000_000, 10_001_000)
        if (s := f"{n:08d}" + luhn_check_digit(f"{n:08d}")) not in known
    )  # fmt: skip
    signed_in(client, keys.sales)
    answer = client.get(f"/check?q={siren}")
    assert "valide mais inconnu" in answer.text
    scored = client.get(
        "/check/score",
        params={"siren": siren, "company_name": "Boulangerie Neuve", "company_naf_code": "10.71C",
                "company_creation_date": "2024-03-01", "amount": "2000"},
    )  # fmt: skip
    assert scored.status_code == 200
    assert 'id="score-card"' in scored.text
    assert "Prospect" in scored.text


def test_every_score_shown_is_in_the_decision_log(
    client: TestClient, app: FastAPI, keys: Keys
) -> None:
    audit = app.state.service.audit
    from service.audit import DecisionFilter

    before = len(audit.find(DecisionFilter(channel="web", limit=1000)))
    signed_in(client, keys.sales).get("/check/card?customer_id=C00003&amount=1234")
    logged = audit.find(DecisionFilter(channel="web", limit=1000))
    assert len(logged) == before + 1
    assert logged[0].caller == "rep"
    assert logged[0].amount == 1234


def test_the_portfolio_reads_the_latest_and_previous_scorings(
    client: TestClient, app: FastAPI, keys: Keys
) -> None:
    signed_in(client, keys.analyst)
    app.state.web.scoring.wait(60)
    engine = app.state.service.store.engine
    latest = read_run(engine)
    assert latest is not None
    previous = read_run(engine, before=latest.decided_at, full=False)
    assert previous is not None
    assert set(previous.decisions.index) <= set(latest.decisions.index)
    answer = client.get("/portfolio")
    assert 'id="by-grade"' in answer.text
    assert 'id="aged-balance"' in answer.text


def test_a_model_without_a_score_reference_is_compared_with_its_first_portfolio_run(
    tmp_path: Path, web_data_dir: Path, model_dir: Path, keys: Keys
) -> None:
    """A model trained by an earlier version stores no reference for the score: the card
    compares today's portfolio scoring with the first one the model made."""
    trained = ScoringModel.load(model_dir)
    assert SCORE_REFERENCE in trained.psi_references
    legacy = dataclasses.replace(
        trained,
        psi_references={k: v for k, v in trained.psi_references.items() if k != SCORE_REFERENCE},
        metadata={**trained.metadata, "version": "test-legacy"},  # no run before this test's
    ).save(tmp_path / "legacy-bundle")
    copy_database(web_data_dir / "credit_risk.db", tmp_path / "credit_risk.db")
    app = create_app(service_settings(tmp_path, legacy), today=lambda: TODAY)
    with TestClient(app, follow_redirects=False) as test_client:
        state = app.state.service  # this model's first portfolio run, a week earlier
        requests = [ScoreRequest(customer_id=f"C{n:05d}", explain=False) for n in range(1, 41)]
        earlier = [dataclasses.replace(r, as_of=TODAY - timedelta(days=7))
                   for r in state.scorer.score(requests, explain=False)]  # fmt: skip
        state.audit.record(requests, earlier, caller=PORTFOLIO, key_id=None, channel=PORTFOLIO,
                           policy_version=state.policy_version)  # fmt: skip
        signed_in(test_client, keys.analyst).get("/check")  # starts today's
        app.state.web.scoring.wait(60)
        assert app.state.web.scoring.status == "done", app.state.web.scoring.message
        english = html.unescape(test_client.get("/model?lang=en").text)
    week_ago = (TODAY - timedelta(days=7)).isoformat()
    assert f"compared with this model's first portfolio scoring ({week_ago})" in english
    assert "training's validation window" not in english


def test_the_customer_card_charts_every_decision_and_shows_the_latest_with_terms(
    tmp_path: Path, web_data_dir: Path, model_dir: Path, keys: Keys
) -> None:
    copy_database(web_data_dir / "credit_risk.db", tmp_path / "credit_risk.db")
    app = create_app(service_settings(tmp_path, model_dir), today=lambda: TODAY)
    api = {"X-API-Key": keys.everything}
    with TestClient(app) as test_client:
        scored = test_client.post("/v1/score", json={"customer_id": "C00011"}, headers=api)
        assert scored.status_code == 200
        bare = test_client.post(  # newer, without terms: not the card's latest terms
            "/v1/score/batch",
            json={"items": [{"customer_id": "C00011", "amount": 90_000}], "terms": False},
            headers=api,
        )
        assert bare.status_code == 200
        page = signed_in(test_client, keys.everything).get("/customers/C00011?lang=en").text
        logged = test_client.get(
            "/v1/decisions", params={"customer_id": "C00011", "limit": 1000}, headers=api
        ).json()["count"]
    assert logged >= 2
    assert page.count('<circle class="dot') == logged
    assert "(score)" in page
    assert "(batch)" in page
    grade = scored.json()["grade"]
    assert f'<div class="grade grade-{grade}" id="grade">{grade}</div>' in page
    assert "No known dunning plan" not in page  # the plan of the score's terms
