"""`RecommendedTerms.to_dict` is spelled out field by field for speed: it must give exactly the
JSON of the generic conversion it replaced (kept here as the reference), for any terms."""

from __future__ import annotations

import dataclasses
import itertools
import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from service.terms import (
    InvalidPolicy,
    PayerContact,
    RecommendedTerms,
    RequestedTerms,
    TermsPolicy,
    TermsRequest,
    default_policy,
    recommend_terms,
)
from tests.service.test_terms_properties import GRADES, SETTINGS, TODAY, policies, requests


def generic_jsonable(value: Any) -> Any:
    """The reference: any dataclass walked field by field, dates as ISO strings, decimals as
    floats, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: generic_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [generic_jsonable(item) for item in value]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def assert_same_json(terms: RecommendedTerms) -> None:
    expected = json.dumps(generic_jsonable(terms), allow_nan=False)
    assert json.dumps(terms.to_dict(), allow_nan=False) == expected


@SETTINGS
@given(policies(), requests(), st.sampled_from(GRADES))
def test_to_dict_is_the_generic_conversion_for_any_policy_and_request(
    policy_data: dict[str, Any], request: TermsRequest, grade: str
) -> None:
    try:
        policy = TermsPolicy.from_dict(policy_data)
    except InvalidPolicy as refused:  # pragma: no cover - shows the problems when it fails
        raise AssertionError(f"the strategy made an invalid policy: {refused}") from refused
    terms = recommend_terms(request.model_copy(update={"grade": grade}), policy, today=TODAY)
    assert_same_json(terms)


PAYERS = [
    None,
    PayerContact(name="Compta SARL", email="compta@example.fr", phone="+33 1 23 45 67 89"),
    PayerContact(name="Compta SARL"),
    PayerContact(phone="06 12 34 56 78"),
]


def test_to_dict_is_the_generic_conversion_across_the_default_policy() -> None:
    """Every grade, amounts across the bands, terms of 0 to 90 days or none, past and current
    invoice dates, customers and prospects, sole traders, sectors with caps, payers."""
    policy = default_policy()
    variants = itertools.product(
        GRADES,
        [50.0, 4_999.99, 20_000.0, 150_000.0, 2_000_000.0],
        [None, 0, 30, 45, 60, 90],
        [None, TODAY - timedelta(days=800), date(2025, 12, 31)],
        [(None, None), ("10.11Z", "11.01Z"), ("62.01Z", None)],
    )
    for index, (grade, amount, days, invoice_date, (naf, supplier_naf)) in enumerate(variants):
        customer = index % 3 != 0
        overdue = index % 4 == 1
        request = TermsRequest(
            grade=grade,
            p_late=(index % 10) / 10,
            p_severe=(index % 7) / 7,
            order_amount=amount,
            requested_terms=None if days is None else RequestedTerms(days=days),
            open_amount=30_000.0 if overdue else 0.0,
            overdue_amount=12_000.0 if overdue else 0.0,
            overdue_count=2 if overdue else 0,
            oldest_overdue_days=75 if overdue else 0,
            usual_monthly_amount=8_000.0 if customer else None,
            naf_code=naf,
            supplier_naf_code=supplier_naf,
            is_sole_trader=index % 5 == 0,
            preferred_channel=[None, "email", "sms", "letter"][index % 4],  # type: ignore[arg-type]
            payer=PAYERS[index % len(PAYERS)],
            good_payer=customer and index % 2 == 0,
            invoice_date=invoice_date,
        )
        assert_same_json(recommend_terms(request, policy, today=TODAY))
