"""Scoring requests: resolve who is scored, read their part of the ledger, build the same
point-in-time features as training, predict, explain.

The scorer reads the serving model once per call, so a hot swap in the middle of a batch never
mixes two models in one answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any
from uuid import UUID

import numpy as np
import pandas as pd
import sqlalchemy as sa

from features.ledger import LedgerStore
from features.ledger_tables import ledger_tables
from features.point_in_time import (
    DAYS_PER_YEAR,
    FEATURE_COLUMNS,
    Ledger,
    PreparedLedger,
    build_features,
)
from features.reasons import Reason, explain_rows
from features.schemas import TABLES
from features.scoring_model import Scores, ScoringModel
from service.answers import ReasonAnswer, ScoreAnswer, SubjectAnswer
from service.decision_ids import new_decision_ids
from service.errors import InvalidField, UnknownCompany, UnknownCustomer
from service.model_host import ModelHost
from service.portfolio import WHOLE_MAX_ROWS, Directory, WholeLedger, customers_of, ledger_for
from service.recommending import TERMS_FEATURES, recommended_terms
from service.schemas import CompanyData, ScoreSubject
from service.terms import TermsPolicy
from service.terms.request import Grade

__all__ = ["PROSPECT_BASIS", "SOLE_TRADER_REVIEW", "Scorer", "probe_features"]

PROSPECT_BASIS = "no payment history: scored from company data"
CUSTOMER_BASIS = "payment history with the supplier and company data"
SOLE_TRADER_REVIEW = (
    "sole trader (a natural person): the score is advice for a person to review, not an "
    "automated decision (GDPR art. 22)"
)
_PROBE_CUSTOMERS = 3
_FEATURE_NAMES = tuple(FEATURE_COLUMNS)  # a score's features, in the order of a row
_COLUMN = {name: i for i, name in enumerate(_FEATURE_NAMES)}  # a feature's place in a row


@dataclass(slots=True)
class _Subject:
    """A request resolved against the ledger (not frozen: ten thousand a batch, see
    `_Outcome`)."""

    customer_id: str | None
    siren: str | None
    name: str | None
    inline: CompanyData | None = None
    inline_key: str | None = None  # the key an inline company's rows are joined on

    @property
    def company_key(self) -> str | None:
        return self.inline_key or self.siren


class Scorer:
    """Scores subjects with the host's current model, reading only the rows they need."""

    def __init__(
        self,
        store: LedgerStore,
        host: ModelHost,
        today: Callable[[], date],
        policy: TermsPolicy | None = None,
        memory_ledger_max_rows: int = WHOLE_MAX_ROWS,
    ) -> None:
        self.store = store
        # The book in memory when it fits, loaded in the background once a model serves (not
        # before: the load would compete with the worker's start-up for the CPU).
        self.whole_ledger = WholeLedger(store, memory_ledger_max_rows, today=today)
        self.whole_ledger.load_in_background(once=lambda: host.ready)
        self.host = host
        self.today = today
        self.policy = policy

    @property
    def policy_version(self) -> str | None:
        return self.policy.version if self.policy is not None else None

    def score(
        self,
        requests: Sequence[ScoreSubject],
        *,
        explain: bool,
        fields: Sequence[str] | None = None,
        terms: bool = True,
    ) -> list[ScoreAnswer]:
        """One response per request, in order, with the policy's terms unless `terms` is false.
        `fields` prefix the field names of errors, one per request (e.g. "items[3]." in a
        batch)."""
        size = max(len(requests), 1)
        parts = self.score_in_slices(requests, size, explain=explain, fields=fields, terms=terms)
        return [response for part in parts for response in part]

    def score_in_slices(
        self,
        requests: Sequence[ScoreSubject],
        size: int,
        *,
        explain: bool,
        fields: Sequence[str] | None = None,
        terms: bool = True,
    ) -> Iterator[list[ScoreAnswer]]:
        """`score`'s responses, `size` requests at a time, so that a caller may log a slice
        while the next one is scored. Every request is checked and resolved before the first
        slice comes (a bad one fails them all), and every slice uses the same model."""
        model = self.host.model  # one read: see the module docstring
        prefixes = list(fields) if fields is not None else [""] * len(requests)
        if len(prefixes) != len(requests):
            raise ValueError("give one field prefix per request")
        today = self.today()  # once: a batch's items share the day
        as_of = [_decision_day(r, p, today) for r, p in zip(requests, prefixes, strict=True)]
        subjects, features, directory = self._features(requests, prefixes, as_of)

        def answered(start: int) -> list[ScoreAnswer]:
            end = start + size
            return self._answers(
                model, requests[start:end], subjects[start:end], as_of[start:end],
                features[start:end], directory, explain=explain, terms=terms,
            )  # fmt: skip

        return (answered(start) for start in range(0, len(requests), size))

    def _answers(
        self,
        model: ScoringModel,
        requests: Sequence[ScoreSubject],
        subjects: Sequence[_Subject],
        as_of: Sequence[date],
        features: np.ndarray,
        directory: Directory,
        *,
        explain: bool,
        terms: bool,
    ) -> list[ScoreAnswer]:
        """The responses to resolved requests whose feature rows are `features`."""
        scores = model.scores_of(features, _FEATURE_NAMES)
        explained: Sequence[list[Reason] | None] = (
            _reasons(model, features) if explain else [None] * len(requests)
        )
        outcomes = _outcomes(features, scores, as_of, [r.terms_days for r in requests])
        recommended: Sequence[bytes | None] = (
            self._terms(requests, subjects, as_of, features, outcomes, directory)
            if self.policy is not None and terms
            else [None] * len(requests)
        )
        policy_version = self.policy_version if terms else None
        ids = new_decision_ids(len(requests))
        rows = zip(ids, subjects, as_of, outcomes, explained, recommended, strict=True)
        version = model.version
        return [
            _answer(i, subject, day, outcome, why, version, given, policy_version)
            for i, subject, day, outcome, why, given in rows
        ]

    def _features(
        self, requests: Sequence[ScoreSubject], prefixes: Sequence[str], as_of: Sequence[date]
    ) -> tuple[list[_Subject], np.ndarray, Directory]:
        """Who each request scores, their features (a row each, in FEATURE_COLUMNS), and the
        directory of their accounts and companies: from the book in memory when it is loaded,
        else read from the database (and always so for inline company data, which the book
        does not hold)."""
        ids = [r.customer_id for r in requests if r.customer_id is not None]
        sirens = [s for r in requests if (s := _siren_of(r)) is not None]
        inline = any(r.company is not None for r in requests)
        held = None if inline else self.whole_ledger.current(ids, sirens)
        if held is not None:
            prepared, directory = held.prepared, held.directory
            subjects = [_subject(r, p, directory) for r, p in zip(requests, prefixes, strict=True)]
        else:
            customers = customers_of(self.store, ids, sirens)
            ledger = ledger_for(self.store, customers, sirens)
            directory = Directory.of(customers, ledger.companies)
            resolved = [_subject(r, p, directory) for r, p in zip(requests, prefixes, strict=True)]
            with_inline, subjects = _with_inline_companies(ledger, resolved)
            if with_inline is not ledger:  # the terms read the inline rows under their own keys
                directory = Directory.of(customers, with_inline.companies)
            prepared = PreparedLedger(with_inline)
        features = _matrix(prepared, requests, subjects, as_of).T
        _refuse_days_before_creation(features, subjects, prefixes, as_of)
        return subjects, features, directory

    def _terms(
        self,
        requests: Sequence[ScoreSubject],
        subjects: Sequence[_Subject],
        as_of: Sequence[date],
        features: np.ndarray,
        outcomes: Sequence[_Outcome],
        directory: Directory,
    ) -> list[bytes]:
        """The terms policy's recommendation for each scored order (its JSON), from the
        probabilities as the answers give them."""
        assert self.policy is not None
        companies, customers = directory.company_fields, directory.customer_fields
        return recommended_terms(
            self.policy,
            features=features[:, _TERMS_COLUMNS],
            grade=[outcome.grade for outcome in outcomes],
            p_severe=[outcome.p_severe for outcome in outcomes],
            amount=[request.amount or 0.0 for request in requests],
            terms_days=[request.terms_days for request in requests],
            as_of=as_of,
            companies=[companies.get(subject.company_key, _NONE) for subject in subjects],
            customers=[customers.get(subject.customer_id, _NONE) for subject in subjects],
        )


_TERMS_COLUMNS = [_COLUMN[name] for name in TERMS_FEATURES]
# A prospect's account, or a company the registry lacks.
_NONE: Mapping[str, Any] = MappingProxyType({})


def probe_features(store: LedgerStore, as_of: date) -> pd.DataFrame:
    """Feature rows a candidate model must score: a few stored customers and a prospect the
    ledger knows nothing about (so that an empty ledger still gives one row)."""
    customer = ledger_tables["customer"]
    first = sa.select(customer.c.customer_id).order_by(customer.c.customer_id)
    customers = store.read("customer", customer.c.customer_id.in_(first.limit(_PROBE_CUSTOMERS)))
    ledger = ledger_for(store, customers, [])
    queries = pd.DataFrame(
        {
            "as_of": pd.Timestamp(as_of),
            "customer_id": pd.Series([*customers["customer_id"].astype(str), None], dtype="string"),
            "siren": pd.Series(pd.NA, index=range(len(customers) + 1), dtype="string"),
            "amount": 10_000.0,
            "terms_days": 30.0,
        }
    )
    return build_features(ledger, queries)


def _decision_day(request: ScoreSubject, prefix: str, today: date) -> date:
    """The request's as_of (today by default); neither it nor a creation date may lie after
    today: features of the future would be look-ahead."""
    as_of = today if request.as_of is None else request.as_of
    if as_of > today:
        raise InvalidField(f"{prefix}as_of", f"{as_of} is after today ({today})")
    created = request.company.creation_date if request.company is not None else None
    if created is not None and created > as_of:
        raise InvalidField(
            f"{prefix}company.creation_date", f"{created} is after the decision day {as_of}"
        )
    return as_of


def _refuse_days_before_creation(
    features: np.ndarray,
    subjects: Sequence[_Subject],
    prefixes: Sequence[str],
    as_of: Sequence[date],
) -> None:
    """A company has no registry row before the day it was created: a score as of an earlier
    day would read the registry's future, a company some years short of being born. (Inline
    data is checked in `_decision_day`; here are the companies of the registry.)"""
    age_in_years = features[:, _COLUMN["company_age_years"]]
    early = np.flatnonzero(age_in_years < 0)
    if early.size == 0:
        return
    first = int(early[0])
    day = as_of[first]
    created = day + timedelta(days=round(-float(age_in_years[first]) * DAYS_PER_YEAR))
    raise InvalidField(
        f"{prefixes[first]}as_of",
        f"{day} is before the company {subjects[first].siren} was created ({created}): "
        "score as of that day or later",
    )


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _epoch_days(days: Sequence[date]) -> np.ndarray:
    """Days since 1970 of each day (numpy converts date objects twenty times slower)."""
    return np.array([day.toordinal() for day in days], dtype=np.int64) - _EPOCH_ORDINAL


def _siren_of(request: ScoreSubject) -> str | None:
    if request.siren is not None:
        return request.siren
    return request.company.siren if request.company is not None else None


def _subject(request: ScoreSubject, prefix: str, directory: Directory) -> _Subject:
    """Who a request scores: a known customer, a company of the registry, or an inline one."""
    siren = _siren_of(request)
    if request.customer_id is not None:
        if request.customer_id not in directory.customers:
            raise UnknownCustomer(request.customer_id, field=f"{prefix}customer_id")
        own, name = directory.customers[request.customer_id]
        if siren is not None and own is not None and siren != own:
            raise InvalidField(
                f"{prefix}siren", f"customer {request.customer_id} has SIREN {own}, not {siren}"
            )
        return _Subject(request.customer_id, own, directory.name(own, name))
    customer_id = directory.account_of.get(siren) if siren is not None else None
    if request.company is not None:
        return _Subject(customer_id, siren, request.company.name, request.company)
    if customer_id is None and siren not in directory.company_names:
        raise UnknownCompany(str(siren), field=f"{prefix}siren")
    fallback = directory.customers[customer_id][1] if customer_id is not None else None
    return _Subject(customer_id, siren, directory.name(siren, fallback))


def _with_inline_companies(
    ledger: Ledger, subjects: Sequence[_Subject]
) -> tuple[Ledger, list[_Subject]]:
    """The ledger plus each inline company under a key of its own, and the subjects keyed so.

    Inline data describes the company as the caller knows it, so it replaces the registry row
    for that request only; the company's stored accounts and legal events still count, copied
    under the same key. Two requests may describe the same SIREN differently.
    """
    keyed = list(subjects)
    rows, statements, events = [], [ledger.statements], [ledger.legal_events]
    for i, subject in enumerate(subjects):
        if subject.inline is None:
            continue
        key = f"inline-{i}"
        rows.append({**subject.inline.model_dump(exclude={"siren"}), "siren": key})
        statements.append(_copied(ledger.statements, subject.siren, key))
        events.append(_copied(ledger.legal_events, subject.siren, key))
        keyed[i] = dataclasses.replace(subject, inline_key=key)
    if not rows:
        return ledger, keyed
    with_inline = dataclasses.replace(
        ledger,
        companies=_concat(ledger.companies, _company_frame(rows)),
        statements=_concat(*statements),
        legal_events=_concat(*events),
    )
    return with_inline, keyed


def _copied(frame: pd.DataFrame, siren: str | None, key: str) -> pd.DataFrame:
    return frame[frame["siren"] == siren].assign(siren=key)


def _company_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows).reindex(columns=TABLES["company"].columns)
    return frame.assign(
        creation_date=pd.to_datetime(frame["creation_date"]).astype("datetime64[s]"),
        share_capital=pd.to_numeric(frame["share_capital"]).astype(float),
        is_sole_trader=frame["is_sole_trader"].astype("boolean"),
        status="active",
    )


def _concat(first: pd.DataFrame, *more: pd.DataFrame) -> pd.DataFrame:
    """Concatenate, skipping empty frames (pandas warns about their dtypes otherwise)."""
    frames = [f for f in (first, *more) if not f.empty]
    if not frames:
        return first
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _matrix(
    prepared: PreparedLedger,
    requests: Sequence[ScoreSubject],
    subjects: Sequence[_Subject],
    as_of: Sequence[date],
) -> np.ndarray:
    """The features of each request's order for its subject, as of its day."""
    return prepared.matrix(
        prepared.customer_codes.of([s.customer_id for s in subjects]),
        prepared.siren_codes.of([s.company_key for s in subjects]),
        _epoch_days(as_of),
        np.array([np.nan if r.amount is None else r.amount for r in requests], dtype=float),
        np.array([r.terms_days for r in requests], dtype=float),
        np.array([float(bool(r.po_number and r.po_number.strip())) for r in requests]),
    )


def _reasons(model: ScoringModel, rows: np.ndarray) -> list[list[Reason]]:
    contributions = model.contributions_of(rows, _FEATURE_NAMES)
    return explain_rows(rows, _FEATURE_NAMES, contributions, model.contribution_names, count=4)


@dataclass(slots=True)
class _Outcome:
    """One row's prediction, its dates and the two facts about its subject the answer reports
    (not frozen: a frozen record costs seven times as much to make, ten thousand a batch)."""

    p_late: float  # rounded as answered, and as the terms read them
    p_severe: float
    expected_days_late: float
    grade: Grade
    prospect: bool  # no payment history
    sole_trader: bool
    due_date: date
    expected_payment_date: date


def _outcomes(
    features: np.ndarray,
    scores: Scores,
    as_of: Sequence[date],
    terms_days: Sequence[int],
) -> list[_Outcome]:
    """Rows as plain values in one pass (row-wise array access costs more than scoring)."""
    due, expected = _due_and_expected(as_of, terms_days, scores.expected_days_late)
    columns = zip(
        [round(p, 4) for p in scores.p_late.tolist()],
        [round(p, 4) for p in scores.p_severe.tolist()],
        [round(late, 1) for late in scores.expected_days_late.tolist()],
        scores.grade.tolist(),
        (~(features[:, _COLUMN["has_history"]] > 0)).tolist(),
        (features[:, _COLUMN["sole_trader"]] == 1).tolist(),
        due,
        expected,
        strict=True,
    )
    return [_Outcome(*values) for values in columns]


# From this many rows, dates are computed on arrays; for fewer (a score's one) numpy's set-up
# would cost more than it saves.
_ARRAY_ROWS = 32


def _due_and_expected(
    as_of: Sequence[date], terms_days: Sequence[int], late: np.ndarray
) -> tuple[list[date], list[date]]:
    """Each order's due date (decision day + terms) and expected payment date (due date + the
    expected days late, rounded), never before the decision day: an expected payment before it
    means "soon", not the past."""
    if len(as_of) < _ARRAY_ROWS:
        due = [day + timedelta(days=terms) for day, terms in zip(as_of, terms_days, strict=True)]
        expected = [
            max(owed + timedelta(days=round(days_late)), day)
            for owed, days_late, day in zip(due, late.tolist(), as_of, strict=True)
        ]
        return due, expected
    day = _epoch_days(as_of).astype("datetime64[D]")
    owed = day + np.asarray(terms_days, dtype="timedelta64[D]")
    # rint rounds halves to even, as round() does
    delay = np.rint(late).astype(np.int64).astype("timedelta64[D]")
    return owed.tolist(), np.maximum(owed + delay, day).tolist()


def _answer(
    decision_id: UUID,
    subject: _Subject,
    as_of: date,
    outcome: _Outcome,
    reasons: list[Reason] | None,
    model_version: str,
    terms: bytes | None,
    policy_version: str | None,
) -> ScoreAnswer:
    return ScoreAnswer(
        decision_id=decision_id,
        as_of=as_of,
        subject=SubjectAnswer(
            customer_id=subject.customer_id,
            siren=subject.siren,
            name=subject.name,
            prospect=outcome.prospect,
            basis=PROSPECT_BASIS if outcome.prospect else CUSTOMER_BASIS,
        ),
        p_late=outcome.p_late,
        p_severe=outcome.p_severe,
        expected_days_late=outcome.expected_days_late,
        due_date=outcome.due_date,
        expected_payment_date=outcome.expected_payment_date,
        grade=outcome.grade,
        reasons=None if reasons is None else [_reason_answer(r) for r in reasons],
        review_required=outcome.sole_trader,
        review_reason=SOLE_TRADER_REVIEW if outcome.sole_trader else None,
        model_version=model_version,
        policy_version=policy_version,  # with the terms, if any
        terms=terms,
    )


def _reason_answer(reason: Reason) -> ReasonAnswer:
    return ReasonAnswer(
        feature=reason.feature,
        direction=reason.direction,
        text_fr=reason.text_fr,
        text_en=reason.text_en,
        contribution=round(reason.contribution, 4),
    )
