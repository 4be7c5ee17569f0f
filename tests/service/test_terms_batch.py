"""The terms of many orders at once (`recommended_terms_json`, what scores and batches send)
against `recommend_terms`, order by order, for any valid policy; and the service's reading of
the scored features for the terms against a reading row by row."""

from __future__ import annotations

import dataclasses
import gc
import json
import math
import re
import tomllib
import weakref
from datetime import date
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic_core import to_json

from features.contacts import EMAIL_PATTERN
from service.recommending import TERMS_FEATURES, recommended_terms
from service.terms import (
    OrderColumns,
    PayerContact,
    RequestedTerms,
    TermsPolicy,
    TermsRequest,
    default_policy,
    recommend,
    recommend_terms,
    recommended_terms_json,
)
from service.terms.memo import by_identity
from service.terms.policy import default_policy_text
from service.terms.request import PHONE_PATTERN
from tests.service.test_terms_properties import (
    CHANNELS,
    GRADES,
    SETTINGS,
    TODAY,
    policies,
    requests,
)

# Names and addresses go into the plan's steps: quotes, backslashes, accents and control
# characters must come out as the generic JSON writer writes them.
payers = st.one_of(
    st.none(),
    st.builds(
        PayerContact,
        name=st.one_of(st.none(), st.text(max_size=20)),
        email=st.sampled_from([None, "compta@boulangerie-leclerc.fr", "o'brien+ap@x-y.co.uk"]),
        phone=st.sampled_from([None, "+33 6 12 34 56 78", "(01) 45.67.89.10"]),
    ),
)


@st.composite
def orders(draw: st.DrawFn) -> TermsRequest:
    request = draw(requests())
    return request.model_copy(
        update={"grade": draw(st.sampled_from(GRADES)), "payer": draw(payers)}
    )


@SETTINGS
@given(policies(), st.lists(orders(), min_size=1, max_size=6))
def test_terms_of_many_orders_are_those_of_each_order_alone(
    policy_data: dict[str, Any], many: list[TermsRequest]
) -> None:
    policy = TermsPolicy.from_dict(policy_data)
    alone = [recommend_terms(request, policy, today=TODAY) for request in many]
    together = recommended_terms_json(OrderColumns.of(many, TODAY), policy)
    assert together == [to_json(terms.to_dict()) for terms in alone]
    assert together == [terms.to_json() for terms in alone]


@given(st.floats(min_value=0, max_value=1e300))
@example(1e-05)
@example(1e-07)
@example(5e-324)
@example(9.99e-05)
@example(1e-4)
@example(1e16)
@example(1e22)
@example(0.0)
@example(83.54)
def test_terms_write_their_numbers_as_pydantic_does(value: float) -> None:
    """Python and pydantic write most floats alike, not all (1e-05 against 0.00001)."""
    request = TermsRequest(grade="C", p_late=0.3, p_severe=0.05, order_amount=1_000)
    terms = recommend_terms(request, default_policy(), today=TODAY)
    odd = dataclasses.replace(
        terms, deposit_percent=value, deposit_amount=value / 3, credit_limit=-value,
        available_credit=value * 7,
    )  # fmt: skip
    assert odd.to_json() == to_json(odd.to_dict())


# An order, and what each input that decides the part orders share (deadline, plan, notice,
# review) changes into: each change gives other terms.
_BASE = TermsRequest(
    grade="A", p_late=0.05, p_severe=0.01, order_amount=5_000, usual_monthly_amount=20_000,
    payer=PayerContact(name="Élise Moreau", email="elise@moreau.fr", phone="06 12 34 56 78"),
    invoice_date=TODAY,
)  # fmt: skip
_SHARED_INPUTS = {
    "grade": "C",
    "order_amount": 60_000,  # the grade's band from 50,000 EUR
    "p_severe": 0.6,  # prepayment, from 0.5
    "requested_terms": RequestedTerms(days=30),
    "invoice_date": date(2026, 12, 31),
    "naf_code": "10.71C",  # fresh bakery: capped at 30 days
    "supplier_naf_code": "10.71C",
    "is_sole_trader": True,
    "preferred_channel": "sms",
    "payer": PayerContact(name="Jean Petit", email="jean@petit.fr"),
    "good_payer": True,
}


def test_orders_that_differ_in_what_they_share_get_their_own_terms_in_one_batch() -> None:
    """Each input that decides the shared part, changed alone, next to the unchanged order in
    one batch (and the batch given twice): every order gets the terms it gets alone."""
    policy = default_policy()
    changed = [_BASE.model_copy(update={name: value}) for name, value in _SHARED_INPUTS.items()]
    many = [order for variant in changed for order in (_BASE, variant)]
    alone = [recommend_terms(order, policy, today=TODAY).to_json() for order in many]
    assert all(terms != alone[0] for terms in alone[1::2])  # every change shows in them
    for _ in range(2):  # the second time, the shared parts are found again
        assert recommended_terms_json(OrderColumns.of(many, TODAY), policy) == alone


def test_another_policy_gives_its_own_terms() -> None:
    """A policy never gets what another one decided: not one made from the other with a new
    version (their grades' terms are the same objects), not after the other is gone."""
    first = TermsPolicy.from_dict(tomllib.loads(default_policy_text()))
    second = dataclasses.replace(first, version="2026.1-b")
    before = recommended_terms_json(OrderColumns.of([_BASE], TODAY), first)
    del first
    gc.collect()
    after = recommended_terms_json(OrderColumns.of([_BASE], TODAY), second)
    assert json.loads(before[0])["policy_version"] == "2026.1"
    assert json.loads(after[0])["policy_version"] == "2026.1-b"
    assert after == [recommend_terms(_BASE, second, today=TODAY).to_json()]


def test_more_distinct_orders_than_the_shared_parts_kept_still_get_their_terms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the number kept, the shared parts are forgotten and worked out again."""
    monkeypatch.setattr(recommend, "_MOST_SHARED", 3)
    policy = default_policy()
    many = [
        _BASE.model_copy(update={"payer": PayerContact(email=f"ap{index % 7}@client.fr")})
        for index in range(20)
    ]
    alone = [recommend_terms(order, policy, today=TODAY).to_json() for order in many]
    assert len(set(alone)) == 7
    assert recommended_terms_json(OrderColumns.of(many, TODAY), policy) == alone
    assert len(recommend._SHARED) <= 3


def _columns(**changes: Any) -> OrderColumns:
    two = [
        TermsRequest(grade="B", p_late=0.1, p_severe=0.01, order_amount=5_000),
        TermsRequest(grade="D", p_late=0.5, p_severe=0.2, order_amount=20_000, open_amount=3e3),
    ]
    return dataclasses.replace(OrderColumns.of(two, TODAY), **changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"p_severe": [0.1, math.nan]}, "order 1: p_severe nan is not within [0.0, 1.0]"),
        ({"order_amount": [-5.0, 10.0]}, "order 0: order_amount -5.0 is not within"),
        ({"open_amount": [1.0, 2e10]}, "order 1: open_amount 20000000000.0 is not within"),
        ({"usual_monthly_amount": [math.nan, -1.0]}, "order 1: usual_monthly_amount -1.0"),
        ({"oldest_overdue_days": [-3, 0]}, "order 0: oldest_overdue_days -3.0"),
        ({"grade": ["C", "F"]}, "order 1: grade 'F' is not one of A to E"),
        ({"preferred_channel": ["fax", None]}, "order 0: preferred_channel 'fax'"),
        ({"requested": [(30, "invoice_date"), (4000, "invoice_date")]},
         "order 1: requested terms (4000, 'invoice_date') are not 0 to 3650 days"),
        ({"requested": [(30, "end_of_week"), None]}, "order 0: requested terms"),
        ({"naf_code": ["62.01Z", "6201"]}, "order 1: naf_code: '6201' is not a NAF rev. 2"),
        ({"invoice_date": [TODAY]}, "column invoice_date has 1 entries, not 2"),
    ],
)  # fmt: skip
def test_orders_out_of_bounds_are_refused_naming_the_order_and_the_field(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        recommended_terms_json(_columns(**changes), default_policy())


def test_orders_within_bounds_give_their_terms() -> None:
    """The refusals above come from the changed column: unchanged, the columns are fine."""
    sent = recommended_terms_json(_columns(), default_policy())
    assert [json.loads(terms)["grade"] for terms in sent] == ["B", "D"]


def test_results_found_by_identity_keep_their_value_and_tell_equal_values_apart() -> None:
    computed: list[int] = []

    class Frozen:
        def __init__(self, value: int) -> None:
            self.value = value

    @by_identity(3)
    def doubled(frozen: Frozen) -> int:
        computed.append(frozen.value)
        return frozen.value * 2

    first, twin = Frozen(4), Frozen(4)
    assert doubled(first) == doubled(first) == 8
    assert computed == [4]  # found again, not computed again
    assert doubled(twin) == 8
    assert computed == [4, 4]  # another object, equal or not: its own entry
    kept = weakref.ref(first)
    del first
    gc.collect()
    assert kept() is not None  # the entry holds it: its id cannot be another object's
    others = [Frozen(value) for value in range(2)]
    assert [doubled(other) for other in others] == [0, 2]
    gc.collect()
    assert kept() is None  # full at three entries: all forgotten, and let go
    assert doubled(others[1]) == 2
    assert computed == [4, 4, 0, 1]  # the last one found again


# --- the service's reading of the features ----------------------------------------------------

_EMAIL, _PHONE = re.compile(EMAIL_PATTERN), re.compile(PHONE_PATTERN)


def reference_terms(
    policy: TermsPolicy,
    row: dict[str, float],
    grade: str,
    p_severe: float,
    amount: float,
    terms_days: int,
    as_of: date,
    company: dict[str, Any],
    customer: dict[str, Any],
) -> bytes:
    """One order's terms read from its features row by row, in plain Python."""

    def number(name: str, missing: float = 0.0) -> float:
        return missing if math.isnan(row[name]) else row[name]

    overdue_count = int(number("overdue_count"))
    open_amount = max(0.0, number("open_amount"))  # 0.0, not -0.0, for an account at -0.0
    count, days = number("prior_invoices"), number("relationship_days")
    monthly = (
        number("prior_amount_mean") * count / max(days / 30.44, 1.0)
        if count > 0 and days > 0
        else None
    )
    email, phone = customer.get("payer_email"), customer.get("payer_phone")
    email = email if email is not None and _EMAIL.fullmatch(email) else None
    phone = phone if phone is not None and _PHONE.fullmatch(phone) else None
    name = customer.get("payer_name")
    request = TermsRequest(
        grade=grade, p_late=0.5, p_severe=p_severe, order_amount=amount,
        requested_terms=RequestedTerms(days=terms_days), open_amount=open_amount,
        overdue_count=overdue_count,
        overdue_amount=max(min(number("overdue_amount"), open_amount), 0.0)
        if overdue_count else 0.0,
        oldest_overdue_days=int(number("oldest_overdue_days")) if overdue_count else 0,
        usual_monthly_amount=monthly, naf_code=company.get("naf_code"),
        is_sole_trader=bool(company.get("is_sole_trader")),
        preferred_channel=customer.get("preferred_channel"),
        payer=PayerContact(name=name, email=email, phone=phone)
        if name or email or phone else None,
        good_payer=number("settled_count") >= 5 and number("known_late_share", 1.0) < 0.1,
        invoice_date=as_of,
    )  # fmt: skip
    return to_json(recommend_terms(request, policy, today=as_of).to_dict())


feature_values = st.one_of(
    st.just(math.nan),
    st.sampled_from([0.0, 0.5, 1.0, 4.0, 5.0, 0.09, 0.1]),
    st.floats(0, 5e4),
)
# A credit note can leave an account owing less than nothing.
amounts_owed = st.one_of(feature_values, st.floats(-100, 0))
companies = st.fixed_dictionaries(
    {},
    optional={
        "naf_code": st.sampled_from(["10.71C", "4941A", "62.01z", "11.01Z", "46.69B"]),
        "is_sole_trader": st.booleans(),
    },
)
customers = st.fixed_dictionaries(
    {},
    optional={
        "preferred_channel": st.sampled_from(CHANNELS),
        "payer_name": st.sampled_from(["Élise Moreau", 'Jean "JP" Petit']),
        "payer_email": st.sampled_from(["elise@moreau.fr", "not an address"]),
        "payer_phone": st.sampled_from(["06 12 34 56 78", "06 12 34 56 78 poste 12"]),
    },
)


@st.composite
def scored_orders(draw: st.DrawFn) -> dict[str, Any]:
    overdue = draw(st.sampled_from([0.0, 0.5, 1.0, 3.0, math.nan]))
    row = {name: draw(feature_values) for name in TERMS_FEATURES} | {
        "overdue_count": overdue,
        "open_amount": draw(amounts_owed),
        "overdue_amount": draw(amounts_owed),
    }
    return {
        "row": row,
        "grade": draw(st.sampled_from(GRADES)),
        "p_severe": draw(st.floats(0, 1)),
        "amount": draw(st.floats(0, 2e5)),
        "terms_days": draw(st.sampled_from([0, 30, 45, 60, 90])),
        "as_of": draw(st.dates(date(2024, 1, 1), date(2027, 6, 30))),
        "company": draw(companies),
        "customer": draw(customers),
    }


@SETTINGS
@given(st.lists(scored_orders(), min_size=1, max_size=8))
def test_the_service_reads_the_terms_inputs_from_the_features_as_row_by_row(
    scored: list[dict[str, Any]],
) -> None:
    policy = default_policy()
    features = np.array([[order["row"][name] for name in TERMS_FEATURES] for order in scored])
    sent = recommended_terms(
        policy,
        features=features,
        grade=[order["grade"] for order in scored],
        p_severe=[order["p_severe"] for order in scored],
        amount=[order["amount"] for order in scored],
        terms_days=[order["terms_days"] for order in scored],
        as_of=[order["as_of"] for order in scored],
        companies=[order["company"] for order in scored],
        customers=[order["customer"] for order in scored],
    )
    expected = [reference_terms(policy, **order) for order in scored]
    for one, other in zip(sent, expected, strict=True):
        assert json.loads(one) == json.loads(other)
    assert sent == expected
