"""The web pages' routes: sign-in, prospect check, portfolio, customer card, model card.

Pages are rendered on the server from Jinja2 templates; a little JavaScript updates the score
card in place for the what-if panel and reloads the portfolio when its scoring is done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from features.drift import SCORE_REFERENCE
from features.errors import InvalidSiren
from features.siren import normalize_siren
from service.api import ServiceState
from service.errors import ModelNotReady, UnknownCustomer
from service.keys import Permission
from service.web import dunning
from service.web.customer_view import customer_view, grade_chart
from service.web.i18n import LANGUAGES
from service.web.model_card import (
    ACT_THRESHOLD,
    PLOT_NAME,
    WATCH_THRESHOLD,
    describe_metadata,
    drift_rows,
    headline_metrics,
    score_drift,
    score_drift_from,
)
from service.web.policy_panel import policy_panel
from service.web.portfolio_scoring import read_run
from service.web.portfolio_view import (
    MAX_ALERTS,
    RECENT_EVENT_DAYS,
    SHOWN_ALERTS,
    portfolio_view,
)
from service.web.prospect import InputProblem, card_input, score_card, siren_message
from service.web.search import find_companies, looks_like_siren
from service.web.session import (
    KEY_COOKIE,
    LANG_COOKIE,
    Forbidden,
    Page,
    PageDep,
    SignInRequired,
)
from service.web.state import WebState, web_state

__all__ = ["install_web", "web"]

HERE = Path(__file__).parent
STATIC_PATH = "/web-static"
_ONE_YEAR = 365 * 24 * 3600

templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
)
templates.env.globals["dunning"] = dunning
templates.env.globals["STATIC"] = STATIC_PATH

web = APIRouter(include_in_schema=False)
WebDep = Annotated[WebState, Depends(web_state)]


def _render(page: Page, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    response = templates.TemplateResponse(
        page.request, name, {"page": page, "t": page.t, "P": Permission, **context},
        status_code=status_code,
    )  # fmt: skip
    _remember_language(page, response)
    return response


def _remember_language(page: Page, response: Response) -> None:
    if page.request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, page.language, max_age=_ONE_YEAR, samesite="strict")


def _state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


# ---- sign-in ---------------------------------------------------------------------------------


def _safe_next(value: str | None) -> str:
    """Only a path of this site (never another host) to go back to after signing in."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/check"


@web.get("/")
def home(page: PageDep) -> RedirectResponse:
    return RedirectResponse("/check" if page.key is not None else "/sign-in", status_code=303)


@web.get("/sign-in")
def sign_in_form(
    page: PageDep, _web: WebDep, next: str | None = None, signed_out: bool = False
) -> HTMLResponse:
    """The sign-in form; the first visit of a day also starts the portfolio scoring."""
    message = page.t("signed_out") if signed_out else None
    return _render(page, "sign_in.html", next=_safe_next(next), error=None, message=message)


@web.post("/sign-in")
async def sign_in(request: Request, page: PageDep) -> Response:
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    token = (form.get("api_key") or [""])[0].strip()
    target = _safe_next((form.get("next") or [""])[0])
    key = request.app.state.service.keys.authenticate(token) if token else None
    if key is None:
        error = page.t("key_missing") if not token else page.t("key_refused")
        # 200, not 401: the browser would log a failed load for the page it shows.
        return _render(page, "sign_in.html", next=target, error=error, message=None)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        KEY_COOKIE, token, httponly=True, samesite="strict", path="/",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


@web.post("/sign-out")
def sign_out() -> RedirectResponse:
    response = RedirectResponse("/sign-in?signed_out=true", status_code=303)
    response.delete_cookie(KEY_COOKIE, path="/", httponly=True, samesite="strict")
    return response


# ---- prospect check ----------------------------------------------------------------------------


@web.get("/check")
def check(page: PageDep, _web: WebDep, q: Annotated[str, Query(max_length=200)] = "") -> Response:
    key = page.require(Permission.READ) if not page.may(Permission.SCORE) else page.key
    assert key is not None
    state = _state(page.request)
    matches, error, unknown_siren = [], None, None
    if q.strip():
        try:
            matches = find_companies(state.store, q)
        except InvalidSiren as invalid:
            error = siren_message(invalid, page.t)
        if not matches and error is None and looks_like_siren(q):
            unknown_siren = normalize_siren(q)
    if len(matches) == 1 and looks_like_siren(q) and page.may(Permission.SCORE):
        only = matches[0]
        target = {"customer_id": only.customer_id} if only.customer_id else {"siren": only.siren}
        return RedirectResponse(f"/check/score?{urlencode(target)}", status_code=303)
    return _render(page, "check.html", q=q, matches=matches, error=error,
                   unknown_siren=unknown_siren, card=None, card_error=None)  # fmt: skip


def _card_or_error(page: Page) -> tuple[Any, str | None]:
    key = page.require(Permission.SCORE)
    state = _state(page.request)
    try:
        return score_card(state, key, card_input(page.request.query_params)), None
    except InputProblem as problem:
        return None, page.t("invalid_input", message=str(problem))
    except InvalidSiren as invalid:
        return None, siren_message(invalid, page.t)
    except ModelNotReady as error:
        return None, page.t("no_model", message=str(error))


@web.get("/check/score")
def check_score(page: PageDep, _web: WebDep) -> HTMLResponse:
    card, error = _card_or_error(page)
    return _render(page, "check.html", q="", matches=[], error=None, unknown_siren=None,
                   card=card, card_error=error)  # fmt: skip


@web.get("/check/card")
def check_card(page: PageDep) -> HTMLResponse:
    """The score card alone: the what-if panel swaps it in place."""
    card, error = _card_or_error(page)
    # 200 even for a refused input: the message is the fragment, and a 4xx would be logged
    # as a failed load in the browser's console.
    return _render(page, "_card.html", card=card, card_error=error)


# ---- portfolio ---------------------------------------------------------------------------------


@web.get("/portfolio")
def portfolio(page: PageDep, web_state: WebDep) -> HTMLResponse:
    page.require(Permission.READ)
    state = _state(page.request)
    latest, previous = web_state.runs()
    view = None
    if latest is not None:  # while today's scoring runs, the last one is shown
        exposure = web_state.exposure.get(state.today())
        view = portfolio_view(state.store, latest, previous, exposure, state.today())
    return _render(page, "portfolio.html", view=view, scoring=web_state.scoring,
                   today=state.today(), event_days=RECENT_EVENT_DAYS,
                   shown=SHOWN_ALERTS, most=MAX_ALERTS)  # fmt: skip


@web.get("/portfolio/status")
def portfolio_status(page: PageDep, web_state: WebDep) -> JSONResponse:
    page.require(Permission.READ)
    return JSONResponse({"status": web_state.scoring.status, "message": web_state.scoring.message})


# ---- customer card -----------------------------------------------------------------------------


@web.get("/customers/{customer_id}")
def customer(customer_id: str, page: PageDep, _web: WebDep) -> HTMLResponse:
    page.require(Permission.READ)
    state = _state(page.request)
    try:
        view = customer_view(state, customer_id)
    except UnknownCustomer:
        return _render(page, "message.html", 404,
                       message=page.t("unknown_customer", id=customer_id))  # fmt: skip
    return _render(page, "customer.html", view=view, chart=grade_chart(view.grades),
                   today=state.today())  # fmt: skip


# ---- model card --------------------------------------------------------------------------------


@web.get("/model")
def model_card(page: PageDep, web_state: WebDep) -> HTMLResponse:
    page.require(Permission.MODEL)
    state = _state(page.request)
    if not state.host.ready:
        message = page.t("no_model", message=state.host.last_reload.message
                         if state.host.last_reload else "")  # fmt: skip
        return _render(page, "message.html", 503, message=message)
    model = state.host.model
    artifacts = web_state.artifacts.current(model)
    if artifacts is None:
        web_state.start()
    recent = web_state.recent_features()
    drift, score_row, reference_day, recent_day, recent_n = [], None, None, None, 0
    if recent is not None:
        latest = read_run(state.store.engine, full=False)
        features = recent[1]
        drift = drift_rows(model.psi_references, features)
        recent_n = len(features)
        if latest is not None:
            recent_day = latest.as_of
            trained = model.psi_references.get(SCORE_REFERENCE)
            if trained is not None:  # the score on the training's validation window
                score_row = score_drift_from(trained, latest.decisions["p_late"].to_numpy())
            # A model without one (trained by an earlier version) is compared with its first
            # portfolio run, looked up only then: on a log of millions of decisions the look-up
            # reads the log from its start (0.4-0.6 s at 1.3 million).
            elif (
                first := read_run(state.store.engine, first_of_model=model.version, full=False)
            ) is not None and first.decided_at < latest.decided_at:
                reference_day = first.as_of
                score_row = score_drift(first.decisions["p_late"].to_numpy(),
                                        latest.decisions["p_late"].to_numpy())  # fmt: skip
    return _render(
        page, "model.html", model=model, host=state.host, artifacts=artifacts,
        metrics=headline_metrics(artifacts.champion.metrics)
        if artifacts and artifacts.champion else [],
        challenger_metrics=dict(headline_metrics(artifacts.challenger.metrics))
        if artifacts and artifacts.challenger else {},
        metadata=describe_metadata(model.metadata), drift=drift, score_row=score_row,
        reference_day=reference_day, recent_day=recent_day, recent_n=recent_n,
        watch=WATCH_THRESHOLD, act=ACT_THRESHOLD, busy=web_state.scoring.busy,
        policy=policy_panel(state.scorer.policy, state.today()),
    )  # fmt: skip


@web.get("/model/plots/{name}")
def model_plot(name: str, page: PageDep, web_state: WebDep) -> Response:
    page.require(Permission.MODEL)
    state = _state(page.request)
    artifacts = web_state.artifacts.current(state.host.model) if state.host.ready else None
    if artifacts is None or artifacts.plots_dir is None or not PLOT_NAME.match(name) \
            or name not in artifacts.plots:  # fmt: skip
        return _render(page, "message.html", 404, message=page.t("not_found"))
    return FileResponse(artifacts.plots_dir / name, media_type="image/png")


# ---- wiring ------------------------------------------------------------------------------------


def _to_sign_in(request: Request, error: Exception) -> Response:
    assert isinstance(error, SignInRequired)
    target = error.next_path
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(f"/sign-in?{urlencode({'next': target})}", status_code=303)


def _forbidden(request: Request, error: Exception) -> Response:
    assert isinstance(error, Forbidden)
    page = error.page
    message = page.t("not_allowed", roles=", ".join(page.key.roles) if page.key else "",
                     needed=page.roles_granting(error.permission))  # fmt: skip
    return _render(page, "message.html", 403, message=message)


def install_web(app: FastAPI) -> None:
    """Serve the web pages and their static files from this app."""
    app.include_router(web)
    app.mount(STATIC_PATH, StaticFiles(directory=HERE / "static"), name="web-static")
    app.add_exception_handler(SignInRequired, _to_sign_in)
    app.add_exception_handler(Forbidden, _forbidden)
