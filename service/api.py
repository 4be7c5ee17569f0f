"""The HTTP routes: `/v1` for scoring and look-ups, `/health` and `/metrics` for operations.

Routes only translate: they take validated bodies, call the domain (scorer, profiles, model
host) and return response models; errors are mapped in `service.errors`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import JSONResponse

from features.ledger import LedgerStore
from service.errors import BatchTooLarge, ErrorBody
from service.metrics import ServiceMetrics
from service.model_host import ModelHost, ReloadOutcome
from service.profiles import company_profile, customer_profile
from service.schemas import (
    BatchRequest,
    BatchResponse,
    CompanyResponse,
    CustomerResponse,
    ModelInfo,
    ReadyOut,
    ReloadOut,
    ScoreRequest,
    ScoreResponse,
)
from service.scoring import Scorer
from service.settings import ServiceSettings

__all__ = ["ServiceState", "operations", "v1"]


@dataclass
class ServiceState:
    """What the lifespan opens and the routes use."""

    settings: ServiceSettings
    store: LedgerStore
    host: ModelHost
    scorer: Scorer
    metrics: ServiceMetrics
    today: Callable[[], date]


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


def get_scorer(state: Annotated[ServiceState, Depends(get_state)]) -> Scorer:
    return state.scorer


StateDep = Annotated[ServiceState, Depends(get_state)]
ScorerDep = Annotated[Scorer, Depends(get_scorer)]

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        400: "the body is not JSON",
        404: "unknown customer or company",
        413: "body or batch too large",
        422: "a field is invalid (named in `fields`)",
        503: "no model loaded yet",
    }.items()
}

v1 = APIRouter(prefix="/v1", responses=_ERRORS)
operations = APIRouter()


@v1.post("/score", tags=["scoring"], summary="Score a customer or a prospect")
def score(body: ScoreRequest, scorer: ScorerDep, state: StateDep) -> ScoreResponse:
    """P(late), P(severe), expected delay and payment date, grade A-E, reasons in French and
    English, for a known customer (`customer_id` or `siren`) or a prospect (`siren` of a
    registry company, or inline `company` data), optionally for a proposed amount and terms."""
    [result] = scorer.score([body], explain=body.explain)
    state.metrics.scored([result.grade])
    return result


@v1.post("/score/batch", tags=["scoring"], summary="Score many subjects at once")
def score_batch(body: BatchRequest, scorer: ScorerDep, state: StateDep) -> BatchResponse:
    """Up to `max_batch` items, answered in the same order; reasons only if `explain`. One bad
    item fails the batch with its position named (`items[3].siren`)."""
    limit = state.settings.max_batch
    if len(body.items) > limit:
        raise BatchTooLarge(len(body.items), limit)
    fields = [f"items[{i}]." for i in range(len(body.items))]
    results = scorer.score(body.items, explain=body.explain, fields=fields)
    state.metrics.scored(r.grade for r in results)
    version = results[0].model_version if results else state.host.model.version
    return BatchResponse(model_version=version, count=len(results), results=results)


@v1.get("/customers/{customer_id}", tags=["look-up"], summary="A customer account")
def customer(
    customer_id: Annotated[str, Path(min_length=1, max_length=64, examples=["C00042"])],
    state: StateDep,
) -> CustomerResponse:
    """The account, its company's registry profile, and how it paid as of today."""
    return customer_profile(state.store, customer_id, state.today())


@v1.get("/companies/{siren}", tags=["look-up"], summary="A company by SIREN")
def company(
    siren: Annotated[str, Path(max_length=20, examples=["552100554"])], state: StateDep
) -> CompanyResponse:
    """Registry profile, last accounts, legal events, the supplier's accounts for it and how
    they paid as of today."""
    return company_profile(state.store, siren, state.today())


@v1.get("/model", tags=["model"], summary="The serving model")
def model_info(state: StateDep) -> ModelInfo:
    model = state.host.model
    return ModelInfo(
        version=model.version,
        source=state.host.source.description,
        loaded_at=state.host.loaded_at,
        features=list(model.features),
        grade_upper_bounds=model.bands.to_dict()["upper_bounds"],
        metadata=dict(model.metadata),
        last_reload=_reload_out(state.host.last_reload),
    )


@v1.post(
    "/model/reload",
    tags=["model"],
    summary="Load the current model from its source (hot swap)",
    responses={409: {"model": ErrorBody, "description": "refused; the old model serves on"}},
)
def reload_model(state: StateDep) -> ReloadOut:
    """Fetch the model (the registry alias, or the bundle directory), check it beside the
    serving one, then swap. A model that fails never replaces the serving one (409)."""
    outcome = state.host.reload()
    state.metrics.serving(state.host.model.version)
    reloaded = _reload_out(outcome)
    assert reloaded is not None
    return reloaded


@operations.get("/health/live", tags=["operations"], summary="The process answers")
def live() -> dict[str, str]:
    return {"status": "alive"}


@operations.get(
    "/health/ready",
    tags=["operations"],
    summary="A model is loaded and the store answers",
    responses={503: {"model": ReadyOut, "description": "not ready (says why)"}},
)
def ready(state: StateDep) -> JSONResponse:
    store = _store_status(state.store)
    is_ready = state.host.ready and store == "ok"
    body = ReadyOut(
        ready=is_ready,
        model_version=state.host.model.version if state.host.ready else None,
        store=store,
        last_reload=_reload_out(state.host.last_reload),
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if is_ready else 503)


@operations.get("/metrics", tags=["operations"], summary="Prometheus metrics")
def metrics(state: StateDep) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def _store_status(store: LedgerStore) -> str:
    try:
        with store.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as error:
        return f"unreachable: {type(error).__name__}"
    return "ok"


def _reload_out(outcome: ReloadOutcome | None) -> ReloadOut | None:
    return None if outcome is None else ReloadOut(**asdict(outcome))
