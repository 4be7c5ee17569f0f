"""The HTTP routes: `/v1` for scoring and look-ups, `/health` and `/metrics` for operations.

Routes only translate: they take validated bodies, call the domain (scorer, profiles, model
host) and return response models (scores as the JSON the decision log keeps of them); errors
are mapped in `service.errors`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Annotated, Any

import anyio.to_thread
import sqlalchemy as sa
from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    Header,
    Path,
    Query,
    Request,
    Response,
    Security,
)
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.routing import Match, Route
from starlette.types import Scope

from features.ledger import LedgerStore
from service.answers import answers_json
from service.audit import AuditLog, DecisionFilter
from service.auth import allowed_caller, require
from service.content_coding import CONTENT_CODINGS, content_coding
from service.errors import BatchTooLarge, ErrorBody, NotFound
from service.ingestion import Answer, Idempotency, Ingestor, request_digest
from service.json_body import read_body, validated
from service.keys import ApiKey, ApiKeys, Permission
from service.memory import cyclic_collection_paused, give_back_freed_memory
from service.metrics import ServiceMetrics
from service.model_host import ModelHost, ReloadOutcome
from service.pieces import PiecesResponse
from service.profiles import company_profile, customer_profile
from service.rounds import ScoreRounds
from service.schemas import (
    BatchRequest,
    BatchResponse,
    CompanyResponse,
    CurrentGrade,
    CustomerIn,
    CustomerResponse,
    DecisionList,
    DecisionOut,
    IngestResult,
    InvoiceBatch,
    InvoiceIn,
    ModelInfo,
    PaymentBatch,
    PaymentIn,
    PolicyOut,
    ReadyOut,
    ReloadOut,
    ScoreRequest,
    ScoreResponse,
    ScoreSubject,
)
from service.scoring import Scorer
from service.settings import ServiceSettings
from service.terms.rates_due import missing_rates

__all__ = ["ServiceState", "operations", "score_route", "v1"]


@dataclass
class ServiceState:
    """What the lifespan opens and the routes use."""

    settings: ServiceSettings
    store: LedgerStore
    host: ModelHost
    scorer: Scorer
    metrics: ServiceMetrics
    today: Callable[[], date]
    keys: ApiKeys
    audit: AuditLog
    ingestor: Ingestor
    rounds: ScoreRounds

    @property
    def policy_version(self) -> str | None:
        return self.scorer.policy_version

    def policy_warnings(self) -> list[str]:
        """The late-payment rates the policy lacks today (see `service.terms.rates_due`)."""
        policy = self.scorer.policy
        if policy is None:
            return []
        return [gap.message() for gap in missing_rates(policy, self.today())]


async def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]
Scoring = Annotated[ApiKey, Security(require(Permission.SCORE))]
Reading = Annotated[ApiKey, Security(require(Permission.READ))]
Ingesting = Annotated[ApiKey, Security(require(Permission.INGEST))]
ModelAdmin = Annotated[ApiKey, Security(require(Permission.MODEL))]
PolicyReader = Annotated[ApiKey, Security(require(Permission.POLICY))]
Auditing = Annotated[ApiKey, Security(require(Permission.AUDIT))]
AcceptEncoding = Annotated[
    str | None,
    Header(
        alias="Accept-Encoding",
        description=f"content codings the client reads ({', '.join(CONTENT_CODINGS)} are "
        "offered, zstd first on a tie; none: the JSON as it is)",
        examples=["zstd, gzip"],
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="retry-safe: a repeated request with this key and body is answered once",
    ),
]

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        400: "the body is not JSON",
        401: "no API key, or an unknown or revoked one",
        403: "the API key's roles do not allow this",
        404: "unknown customer or company",
        413: "body or batch too large",
        422: "a field is invalid (named in `fields`)",
        503: "no model loaded yet",
    }.items()
}

v1 = APIRouter(prefix="/v1", responses=_ERRORS)
# Items of a batch scored, then logged by another thread while the next ones are scored. Fewer
# than features.scoring_model's threaded rows: a slice is predicted on one core, the writer
# has the other (10,000 items in-process: 0.47-0.50 s against 0.51-0.55 s in slices of 2,000).
_LOGGED_SLICE = 1_000
# A batch of this many items leaves megabytes of freed memory behind (its answer and decision
# log as JSON), which the allocators would otherwise keep.
_LARGE_BATCH = 1_000
operations = APIRouter()


@v1.post(
    "/score",
    response_model=ScoreResponse,
    tags=["scoring"],
    summary="Score a customer or a prospect",
)
async def score(body: ScoreRequest, state: StateDep, caller: Scoring) -> Response:
    """P(late), P(severe), expected delay and payment date, grade A-E, reasons in French and
    English, for a known customer (`customer_id` or `siren`) or a prospect (`siren` of a
    registry company, or inline `company` data), optionally for a proposed amount and terms."""
    # Answered on the event loop itself, with the other scores waiting there (service.rounds):
    # a score is a fraction of a millisecond of CPU, and handing it to a thread would cost more
    # (the threads then take turns with the loop for Python's global lock). Batches, which take
    # longer, run in a thread.
    return Response(await state.rounds.score(body, caller), media_type="application/json")


async def _score_by_hand(request: Request) -> Response:
    """`score`, with its body, state and key read here, as FastAPI would read them (the same
    checks in the same order, the same errors)."""
    value = await read_body(request)
    caller = allowed_caller(request, Permission.SCORE)
    return await score(validated(ScoreRequest, value), request.app.state.service, caller)


class _PlainRoute(Route):
    """A Starlette route that names itself in the request's scope when it matches, as FastAPI's
    routes do (the request metrics label requests by it)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


# `POST /v1/score` as requests reach it, placed before every other route: the path operation
# above documents it (OpenAPI), and this plain route serves it. FastAPI's generic handling of
# a path operation (solving its dependencies, parsing its body, its per-request context) cost a
# score 0.58 ms of worker CPU in process against 0.42 ms by hand, a quarter of a score.
score_route = _PlainRoute("/v1/score", _score_by_hand, methods=["POST"], include_in_schema=False)


@v1.post(
    "/score/batch",
    response_model=BatchResponse,
    tags=["scoring"],
    summary="Score many subjects at once",
)
def score_batch(
    body: BatchRequest,
    state: StateDep,
    caller: Scoring,
    after: BackgroundTasks,
    accept_encoding: AcceptEncoding = None,
) -> Response:
    """Up to `max_batch` items, answered in the same order; reasons only if `explain`, terms
    unless `terms` is false. One bad item fails the batch with its position named
    (`items[3].siren`). The answer is compressed if `Accept-Encoding` allows zstd or gzip
    (10,000 scores with terms: 31 MB of JSON, 1.7 MB in zstd)."""
    limit = state.settings.max_batch
    if len(body.items) > limit:
        raise BatchTooLarge(len(body.items), limit)
    with cyclic_collection_paused():
        pieces = _batch_answer(body, state, caller)
    if len(body.items) >= _LARGE_BATCH:  # once answered, give its memory back to the system
        after.add_task(give_back_freed_memory)
    return PiecesResponse(pieces, coding=content_coding(accept_encoding))


def _batch_answer(body: BatchRequest, state: ServiceState, caller: ApiKey) -> list[bytes]:
    """The batch's answer as sent, in pieces (a slice's answers each), once all its decisions
    are logged."""
    slices = state.scorer.score_in_slices(
        body.items, _LOGGED_SLICE, explain=body.explain, fields=_item_fields(body.items),
        terms=body.terms,
    )  # fmt: skip
    pieces: list[bytes] = []
    count = 0
    version: str | None = None  # the model's, as the answers give it
    with state.audit.recording(**_decided_by(state, caller, "batch")) as record:
        for results in slices:  # each slice logged while the next is scored
            answers = answers_json(results)
            record(body.items[count : count + len(results)], results, answers)
            state.metrics.scored(r.grade for r in results)
            version = results[0].model_version
            # What stays of the answers is their JSON, a comma before each slice but the first.
            pieces.append(b",".join([b"", *answers] if pieces else answers))
            count += len(results)
    head = b'{"model_version":%b,"count":%d,"results":[' % (
        json.dumps(version or state.host.model.version).encode(),
        count,
    )
    return [head, *pieces, b"]}"]


@v1.get("/customers/{customer_id}", tags=["look-up"], summary="A customer account")
def customer(
    customer_id: Annotated[str, Path(min_length=1, max_length=64, examples=["C00042"])],
    state: StateDep,
    caller: Reading,
) -> CustomerResponse:
    """The account, its company's registry profile, how it paid and its grade as of today."""
    profile = customer_profile(state.store, customer_id, state.today())
    current = _current_grade(state, caller, ScoreSubject(customer_id=profile.customer_id))
    return profile.model_copy(update={"current": current})


@v1.get("/companies/{siren}", tags=["look-up"], summary="A company by SIREN")
def company(
    siren: Annotated[str, Path(max_length=20, examples=["552100554"])],
    state: StateDep,
    caller: Reading,
) -> CompanyResponse:
    """Registry profile, last accounts, legal events, the supplier's accounts for it, how they
    paid and the grade as of today (its first account's, or as a prospect)."""
    profile = company_profile(state.store, siren, state.today())
    subject = (
        ScoreSubject(customer_id=profile.customer_ids[0])
        if profile.customer_ids
        else ScoreSubject(siren=siren)
    )
    return profile.model_copy(update={"current": _current_grade(state, caller, subject)})


@v1.get("/model", tags=["model"], summary="The serving model")
def model_info(state: StateDep, _caller: ModelAdmin) -> ModelInfo:
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
def reload_model(state: StateDep, _caller: ModelAdmin) -> ReloadOut:
    """Fetch the model (the registry alias, or the bundle directory), check it beside the
    serving one, then swap. A model that fails never replaces the serving one (409)."""
    outcome = state.host.reload()
    state.metrics.serving(state.host.model.version)
    reloaded = _reload_out(outcome)
    assert reloaded is not None
    return reloaded


@operations.get("/health/live", tags=["operations"], summary="The process answers")
async def live() -> dict[str, str]:
    return {"status": "alive"}


@operations.get(
    "/health/ready",
    tags=["operations"],
    summary="A model is loaded and the store answers",
    responses={503: {"model": ReadyOut, "description": "not ready (says why)"}},
)
async def ready(request: Request, state: StateDep) -> JSONResponse:
    # On a thread of its own, not the request thread: a long batch must not make the worker
    # look unready, nor a slow database hold up the event loop.
    store = await anyio.to_thread.run_sync(
        _store_status, state.store, limiter=request.app.state.health_threads
    )
    is_ready = state.host.ready and store == "ok"
    body = ReadyOut(
        ready=is_ready,
        model_version=state.host.model.version if state.host.ready else None,
        store=store,
        last_reload=_reload_out(state.host.last_reload),
        warnings=state.policy_warnings(),
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if is_ready else 503)


@operations.get(
    "/metrics",
    tags=["operations"],
    summary="Prometheus metrics",
    response_class=PlainTextResponse,  # documents text/plain: the exposition format is not JSON
)
async def metrics(state: StateDep) -> Response:
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


# ---- terms policy and decision log (analysts) ----------------------------------------------------


@v1.get("/policy", tags=["policy"], summary="The terms policy in force")
def policy(state: StateDep, _caller: PolicyReader) -> PolicyOut:
    """The version and content of the terms policy the service recommends terms with."""
    terms_policy = state.scorer.policy
    if terms_policy is None:
        raise NotFound("this service recommends no terms (no policy loaded)")
    return PolicyOut(
        version=terms_policy.version,
        source=terms_policy.source,
        description=terms_policy.description,
        policy=dict(terms_policy.document),
        warnings=state.policy_warnings(),
    )


@v1.get(
    "/decisions/{decision_id}",
    tags=["audit"],
    summary="One logged decision",
    responses={404: {"model": ErrorBody, "description": "no decision with this id"}},
)
def decision(
    decision_id: Annotated[str, Path(min_length=1, max_length=36)],
    state: StateDep,
    _caller: Auditing,
) -> DecisionOut:
    """Who asked, the inputs, the model and policy versions and the answer, as recorded."""
    found = state.audit.get(decision_id)
    if found is None:
        raise NotFound(f"no decision with id {decision_id!r} in the decision log")
    return found


@v1.get("/decisions", tags=["audit"], summary="Logged decisions, newest first")
def decisions(
    state: StateDep,
    _caller: Auditing,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    siren: Annotated[str | None, Query(pattern=r"^\d{9}$")] = None,
    grade: Annotated[str | None, Query(pattern=r"^[A-E]$")] = None,
    caller: Annotated[str | None, Query(max_length=100, description="API key name")] = None,
    channel: Annotated[str | None, Query(max_length=20)] = None,
    model_version: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[datetime | None, Query(description="decided at or after")] = None,
    until: Annotated[datetime | None, Query(description="decided before")] = None,
    before: Annotated[int | None, Query(ge=1, description="page: entries before this one")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DecisionList:
    """Filter by subject, grade, caller, channel, model version and time; page with `before`."""
    found = state.audit.find(
        DecisionFilter(
            customer_id=customer_id, siren=siren, grade=grade, caller=caller, channel=channel,
            model_version=model_version, since=since, until=until, before=before, limit=limit,
        )
    )  # fmt: skip
    return DecisionList(
        count=len(found),
        items=found,
        next_before=found[-1].entry if len(found) == limit else None,
    )


# ---- ingestion (ERP) -----------------------------------------------------------------------------

_INGEST_ERRORS: dict[int | str, dict[str, Any]] = {
    201: {"model": IngestResult, "description": "rows added"},
    409: {"model": ErrorBody, "description": "an id is stored with other contents (fields named)"},
}


@v1.put(
    "/customers/{customer_id}",
    tags=["ingestion"],
    summary="Create or update a customer account",
    responses=_INGEST_ERRORS,
)
def put_customer(
    customer_id: Annotated[str, Path(min_length=1, max_length=64)],
    body: CustomerIn,
    state: StateDep,
    caller: Ingesting,
) -> JSONResponse:
    """Registry-like data: values sent replace the stored ones, empty ones leave them as they
    are. Invoices need their customer account first."""
    row = {**body.model_dump(mode="json"), "customer_id": customer_id}
    answer = state.ingestor.customers([row], caller=caller.name, fields=[""])
    return _answer_response(answer)


@v1.put(
    "/invoices/{invoice_id}",
    tags=["ingestion"],
    summary="Send an invoice (idempotent)",
    responses=_INGEST_ERRORS,
)
def put_invoice(
    invoice_id: Annotated[str, Path(min_length=1, max_length=64)],
    body: InvoiceIn,
    state: StateDep,
    caller: Ingesting,
) -> JSONResponse:
    """201 when stored, 200 when the same invoice was already there, 409 naming the fields
    when the id is stored with other contents."""
    row = {**body.model_dump(mode="json"), "invoice_id": invoice_id}
    answer = state.ingestor.invoices([row], caller=caller.name, fields=[""])
    return _answer_response(answer)


@v1.put(
    "/invoices",
    tags=["ingestion"],
    summary="Send up to 10,000 invoices at once (all or nothing)",
    responses=_INGEST_ERRORS,
)
def put_invoices(body: InvoiceBatch, state: StateDep, caller: Ingesting) -> JSONResponse:
    """One bad item refuses the whole batch, naming it (`items[3].due_date`)."""
    rows = [item.model_dump(mode="json") for item in body.items]
    answer = state.ingestor.invoices(rows, caller=caller.name, fields=_item_fields(rows))
    return _answer_response(answer)


@v1.post(
    "/payments",
    tags=["ingestion"],
    summary="Send a payment and the invoices it settles",
    responses=_INGEST_ERRORS,
)
def post_payment(
    body: PaymentIn,
    request: Request,
    state: StateDep,
    caller: Ingesting,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Idempotent by payment id, and by `Idempotency-Key` when given: a retry gets the first
    answer (header `Idempotent-Replayed: true`)."""
    payload = body.model_dump(mode="json")
    answer = state.ingestor.payments(
        [payload],
        caller=caller.name,
        fields=[""],
        idempotency=_idempotency(caller, idempotency_key, request, payload),
    )
    return _answer_response(answer)


@v1.post(
    "/payments/bulk",
    tags=["ingestion"],
    summary="Send up to 10,000 payments at once (all or nothing)",
    responses=_INGEST_ERRORS,
)
def post_payments(
    body: PaymentBatch,
    request: Request,
    state: StateDep,
    caller: Ingesting,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    payload = body.model_dump(mode="json")
    answer = state.ingestor.payments(
        payload["items"],
        caller=caller.name,
        fields=_item_fields(body.items),
        idempotency=_idempotency(caller, idempotency_key, request, payload),
    )
    return _answer_response(answer)


def _item_fields(items: Sequence[object]) -> list[str]:
    """How errors name the fields of a bulk request's items: `items[3].amount`."""
    return [f"items[{i}]." for i in range(len(items))]


def _idempotency(
    caller: ApiKey, key: str | None, request: Request, payload: object
) -> Idempotency | None:
    if key is None:
        return None
    return Idempotency(caller.key_id, key, request.url.path, request_digest(payload))


def _answer_response(answer: Answer) -> JSONResponse:
    response = JSONResponse(answer.body, status_code=answer.status_code)
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _decided_by(state: ServiceState, caller: ApiKey, channel: str) -> dict[str, Any]:
    """Who and what a logged decision names besides its inputs and answer."""
    return {
        "caller": caller.name,
        "key_id": caller.key_id,
        "channel": channel,
        "policy_version": state.policy_version,
    }


def _current_grade(
    state: ServiceState, caller: ApiKey, subject: ScoreSubject
) -> CurrentGrade | None:
    """Today's grade of a looked-up subject, logged (channel `lookup`); None without a model."""
    if not state.host.ready:
        return None
    [scored] = state.scorer.score([subject], explain=False)
    # logged before it is sent: no decision without its audit record
    state.audit.record([subject], [scored], **_decided_by(state, caller, "lookup"))
    return CurrentGrade(
        grade=scored.grade,
        p_late=scored.p_late,
        p_severe=scored.p_severe,
        prospect=scored.subject.prospect,
        model_version=scored.model_version,
        decision_id=scored.decision_id,
    )
