"""Payment terms from risk, within French law: a pure domain core with no web framework.

    policy = load_policy("my_policy.toml")          # or default_policy()
    terms = recommend_terms(TermsRequest(grade="C", p_late=0.3, p_severe=0.05,
                                         order_amount=12_000), policy, today=date.today())
    terms.to_dict()                                  # or terms.to_json(), its JSON

    # Many orders at once, each one's terms as JSON (what the service sends):
    recommended_terms_json(OrderColumns.of(requests, date.today()), policy)

A policy file that breaks the law, contradicts itself or gives a riskier grade softer terms is
refused at load with `InvalidPolicy`, listing every problem by key path.
"""

from service.terms.errors import InvalidPolicy, PolicyProblem
from service.terms.law import RECOVERY_INDEMNITY_EUR, SECTOR_CAPS, SectorCap
from service.terms.policy import TermsPolicy, default_policy, load_policy
from service.terms.recommend import recommend_terms, recommended_terms_json
from service.terms.request import OrderColumns, PayerContact, RequestedTerms, TermsRequest
from service.terms.result import (
    Adjustment,
    DunningStep,
    LatePaymentInterest,
    PaymentDeadline,
    RecommendedTerms,
)

__all__ = [
    "RECOVERY_INDEMNITY_EUR",
    "SECTOR_CAPS",
    "Adjustment",
    "DunningStep",
    "InvalidPolicy",
    "LatePaymentInterest",
    "OrderColumns",
    "PayerContact",
    "PaymentDeadline",
    "PolicyProblem",
    "RecommendedTerms",
    "RequestedTerms",
    "SectorCap",
    "TermsPolicy",
    "TermsRequest",
    "default_policy",
    "load_policy",
    "recommend_terms",
    "recommended_terms_json",
]
