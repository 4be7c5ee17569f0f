"""The prospect check: read the order and the subject from the page, score, log, lay out.

Every score the page shows goes into the decision log (channel "web", the signed-in key as the
caller), like a call to /v1/score.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import ValidationError

from features.errors import CreditRiskError, InvalidSiren
from service.answers import ScoreAnswer, terms_of
from service.api import ServiceState
from service.errors import ModelNotReady
from service.keys import ApiKey
from service.schemas import CompanyData, ScoreRequest
from service.terms.recommend import GDPR_REVIEW_REASON
from service.web.dunning import DueMarker, PlanStep, timeline
from service.web.i18n import Translator

__all__ = ["CardInput", "ScoreCard", "card_input", "score_card", "siren_message"]

COMPANY_FIELDS = ("name", "naf_code", "creation_date", "legal_form", "share_capital",
                  "headcount_band", "is_sole_trader")  # fmt: skip
DEFAULT_TERMS_DAYS = 30


@dataclass(frozen=True)
class CardInput:
    """What the page asks to score: the subject and the order (the what-if values)."""

    customer_id: str | None
    siren: str | None
    company: dict[str, str]  # inline company fields as typed, when scoring from company data
    amount: float | None
    terms_days: int

    def query(self) -> dict[str, str]:
        """The same input as URL parameters (the what-if form keeps them)."""
        params = {k: v for k, v in (("customer_id", self.customer_id), ("siren", self.siren)) if v}
        params.update({f"company_{k}": v for k, v in self.company.items() if v})
        if self.amount is not None:
            params["amount"] = f"{self.amount:g}"
        params["terms_days"] = str(self.terms_days)
        return params


class InputProblem(ValueError):
    """The page's input cannot be scored; the message is shown as is."""


def _number(text: str | None, name: str) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return float(text.replace("\u00a0", "").replace(" ", "").replace(",", "."))
    except ValueError:
        raise InputProblem(f"{name}: {text!r}") from None


def card_input(params: Mapping[str, str]) -> CardInput:
    amount = _number(params.get("amount"), "amount")
    days = _number(params.get("terms_days"), "terms_days")
    return CardInput(
        customer_id=params.get("customer_id") or None,
        siren=params.get("siren") or None,
        company={k: params[f"company_{k}"] for k in COMPANY_FIELDS if params.get(f"company_{k}")},
        amount=amount,  # none: scored without a proposed order
        terms_days=DEFAULT_TERMS_DAYS if days is None else int(days),
    )


def _request(card: CardInput) -> ScoreRequest:
    company = None
    if card.company:
        values: dict[str, object] = {k: v for k, v in card.company.items() if k != "is_sole_trader"}
        values["is_sole_trader"] = card.company.get("is_sole_trader") in ("on", "true", "1")
        company = CompanyData.model_validate(values)
    return ScoreRequest(
        customer_id=card.customer_id,
        siren=card.siren if company is None or company.siren is None else None,
        company=company,
        amount=card.amount,
        terms_days=card.terms_days,
        explain=True,
    )


@dataclass(frozen=True)
class ScoreCard:
    input: CardInput
    response: ScoreAnswer

    @functools.cached_property
    def terms(self) -> dict[str, Any] | None:
        """The recommended terms as data, as the page shows them."""
        return terms_of(self.response)

    @functools.cached_property
    def timeline(self) -> list[PlanStep | DueMarker]:
        """The dunning plan's steps around the due date."""
        return timeline(self.terms)

    @property
    def policy_checks(self) -> list[str]:
        """What the policy asks a person to check, but the GDPR review (the card's notice)."""
        terms = self.terms or {}
        return [r for r in terms.get("review_reasons", []) if r != GDPR_REVIEW_REASON]


def score_card(state: ServiceState, key: ApiKey, card: CardInput) -> ScoreCard:
    """Score the input and log the decision; InputProblem with a readable message otherwise."""
    try:
        request = _request(card)
        [response] = state.scorer.score([request], explain=True)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in error.errors()
        )
        raise InputProblem(problems) from None
    except ModelNotReady:
        raise
    except CreditRiskError as error:
        raise InputProblem(str(error)) from None
    state.audit.record(
        [request], [response], caller=key.name, key_id=key.key_id, channel="web",
        policy_version=state.policy_version,
    )  # fmt: skip
    state.metrics.scored([response.grade])
    return ScoreCard(card, response)


def siren_message(error: InvalidSiren, t: Translator) -> str:
    """The invalid-SIREN message in the page's language, with the Luhn rule."""
    reason = error.reason
    if reason.startswith("has "):
        explained = t("reason_length", n=reason.split()[1])
    elif "Luhn" in reason:
        explained = t("reason_luhn")
    elif "digits" in reason:
        explained = t("reason_digits")
    else:
        explained = t("reason_missing")
    return t("invalid_siren", value=str(error.value), reason=f"{explained} ({t('luhn_rule')})")


def as_of_text(day: date, t: Translator) -> str:
    return t.day(day)
