"""Request and response bodies of the API, with the limits every input must respect.

Inputs forbid unknown fields (a typo must not be silently ignored), amounts are finite and
between 0 and 10 billion euros, dates lie between 1900 and 2100, and SIRENs pass the Luhn
checksum. Whether a date is in the future depends on the service's clock: the scorer checks it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from features.contacts import EMAIL_PATTERN
from features.schemas import HEADCOUNT_BANDS, MAX_AMOUNT, MIN_AMOUNT
from features.siren import normalize_siren
from service.terms.request import PHONE_PATTERN

__all__ = [
    "INGEST_MAX_ITEMS",
    "AccountsOut",
    "Allocation",
    "BatchRequest",
    "BatchResponse",
    "CompanyData",
    "CompanyProfile",
    "CompanyResponse",
    "CurrentGrade",
    "CustomerIn",
    "CustomerResponse",
    "DecisionList",
    "DecisionOut",
    "HistoryOut",
    "IngestResult",
    "InvoiceBatch",
    "InvoiceIn",
    "InvoiceItem",
    "LegalEventOut",
    "ModelInfo",
    "PaymentBatch",
    "PaymentIn",
    "PolicyOut",
    "ReadyOut",
    "ReasonOut",
    "ReloadOut",
    "ScoreRequest",
    "ScoreResponse",
    "ScoreSubject",
    "SubjectOut",
]

EARLIEST = date(1900, 1, 1)
LATEST = date(2100, 12, 31)
# Without agreed terms, French law sets payment at 30 days after delivery (L441-10 I).
DEFAULT_TERMS_DAYS = 30

Siren = Annotated[
    str,
    Field(description="9-digit SIREN (spaces allowed) passing the Luhn checksum",
          examples=["552100554"]),
    AfterValidator(normalize_siren),
]  # fmt: skip
Amount = Annotated[float, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)]
Day = Annotated[date, Field(ge=EARLIEST, le=LATEST)]


def _headcount_band(value: str) -> str:
    if value not in HEADCOUNT_BANDS:
        raise ValueError(f"must be an INSEE headcount band code: {', '.join(HEADCOUNT_BANDS)}")
    return value


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CompanyData(_Input):
    """A company the ledger may not know, described inline (e.g. from its K-bis)."""

    name: str = Field(min_length=1, max_length=200, examples=["Boulangerie Martin"])
    siren: Siren | None = None
    naf_code: str | None = Field(None, pattern=r"^\d{2}\.\d{2}[A-Z]$", examples=["10.71C"])
    creation_date: Day | None = None
    legal_form: str | None = Field(
        None, pattern=r"^\d{4}$", description="INSEE legal category code", examples=["5499"]
    )
    share_capital: Amount | None = Field(None, description="share capital in EUR")
    headcount_band: Annotated[str, AfterValidator(_headcount_band)] | None = Field(
        None, description="INSEE headcount band code", examples=["03"]
    )
    is_sole_trader: bool = Field(False, description="entrepreneur individuel (natural person)")


class ScoreSubject(_Input):
    """Who is scored (a customer by id or SIREN, or a prospect) and the proposed order."""

    customer_id: str | None = Field(None, min_length=1, max_length=64, examples=["C00042"])
    siren: Siren | None = None
    company: CompanyData | None = None
    amount: Amount | None = Field(None, description="proposed order/invoice amount in EUR")
    terms_days: int = Field(
        DEFAULT_TERMS_DAYS, ge=0, le=365, description="proposed payment terms in days"
    )
    po_number: str | None = Field(None, max_length=64, description="purchase-order number")
    as_of: Day | None = Field(
        None,
        description="decision day, today when omitted: what was known on that day is scored; "
        "never after today, nor before the company was created",
    )

    @model_validator(mode="after")
    def _names_a_subject(self) -> ScoreSubject:
        if self.customer_id is None and self.siren is None and self.company is None:
            raise ValueError("give a customer_id, a siren or the company's data (company)")
        if self.customer_id is not None and self.company is not None:
            raise ValueError("a known customer (customer_id) takes no inline company data")
        inline_siren = self.company.siren if self.company is not None else None
        if None not in (self.siren, inline_siren) and self.siren != inline_siren:
            raise ValueError(f"siren {self.siren} and company.siren {inline_siren} differ")
        return self


class ScoreRequest(ScoreSubject):
    """One score; reasons are included unless `explain` is false."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"customer_id": "C00042", "amount": 12500.0, "terms_days": 45},
                {"siren": "552100554", "amount": 3000.0},
                {"company": {"name": "Boulangerie Martin", "naf_code": "10.71C",
                             "creation_date": "2021-03-01", "legal_form": "5499",
                             "share_capital": 5000.0, "headcount_band": "02"},
                 "amount": 1800.0, "terms_days": 30},
            ]
        }
    )  # fmt: skip

    explain: bool = Field(True, description="include up to four reasons in French and English")


class BatchRequest(_Input):
    """Up to `max_batch` subjects scored in one call; results come in the same order."""

    items: list[ScoreSubject] = Field(min_length=1)
    explain: bool = False
    terms: bool = Field(
        True,
        description="recommended terms for each item; false answers scores only (a sixth of "
        "the size, for re-grading a portfolio)",
    )


class ReasonOut(BaseModel):
    feature: str
    direction: Literal["raises", "lowers"]
    text_fr: str
    text_en: str
    contribution: float = Field(description="push on the log-odds of late payment")


class SubjectOut(BaseModel):
    customer_id: str | None
    siren: str | None
    name: str | None
    prospect: bool = Field(description="no payment history: scored from company data only")
    basis: str


class ScoreResponse(BaseModel):
    decision_id: UUID
    as_of: date
    subject: SubjectOut
    p_late: float = Field(description="P(paid more than 5 days after the due date)")
    p_severe: float = Field(description="P(more than 60 days late or never paid)")
    expected_days_late: float
    due_date: date = Field(description="as_of + terms_days")
    expected_payment_date: date
    grade: Literal["A", "B", "C", "D", "E"]
    reasons: list[ReasonOut] | None = Field(None, description="None when explain is false")
    review_required: bool = Field(description="a person must review before any decision")
    review_reason: str | None = None
    model_version: str
    policy_version: str | None = Field(None, description="version of the terms policy applied")
    terms: dict[str, Any] | None = Field(
        None, description="recommended payment terms; None when the service has no policy"
    )


class BatchResponse(BaseModel):
    model_version: str
    count: int
    results: list[ScoreResponse]


# ---- look-ups ----------------------------------------------------------------------------------


class HistoryOut(BaseModel):
    """How the account(s) paid, as of today."""

    invoice_count: int
    invoiced_amount: float
    open_count: int
    open_amount: float
    overdue_count: int
    overdue_amount: float
    settled_count: int
    settled_late_count: int = Field(description="settled more than 5 days after the due date")
    mean_days_late: float | None = Field(description="over settled invoices")
    first_invoice_date: date | None
    last_invoice_date: date | None


class AccountsOut(BaseModel):
    fiscal_year_end: date
    publication_date: date
    confidential: bool
    revenue: float | None
    net_income: float | None
    equity: float | None
    total_assets: float | None


class LegalEventOut(BaseModel):
    event_date: date
    kind: str
    description: str | None


class CompanyProfile(BaseModel):
    siren: str
    name: str | None
    legal_form: str | None
    naf_code: str | None
    creation_date: date | None
    share_capital: float | None
    headcount_band: str | None
    is_sole_trader: bool | None
    status: str | None
    latest_accounts: AccountsOut | None = Field(description="the last accounts published")
    legal_events: list[LegalEventOut]


class CurrentGrade(BaseModel):
    """The score as of today without a proposed order (logged like any decision)."""

    grade: Literal["A", "B", "C", "D", "E"]
    p_late: float
    p_severe: float
    prospect: bool = Field(description="scored from company data only (no payment history)")
    model_version: str
    decision_id: UUID


class CustomerResponse(BaseModel):
    customer_id: str
    siren: str | None
    name: str | None
    po_required: bool
    preferred_channel: str | None
    company: CompanyProfile | None
    history: HistoryOut
    current: CurrentGrade | None = Field(None, description="None while no model is loaded")


class CompanyResponse(BaseModel):
    company: CompanyProfile | None = Field(description="None when only customer accounts name it")
    customer_ids: list[str] = Field(description="the supplier's accounts for this company")
    history: HistoryOut | None = Field(description="all its accounts together; None if none")
    current: CurrentGrade | None = Field(None, description="None while no model is loaded")


# ---- operations --------------------------------------------------------------------------------


class ReloadOut(BaseModel):
    ok: bool
    at: datetime
    source: str
    seconds: float
    version: str | None
    message: str


class ModelInfo(BaseModel):
    version: str
    source: str
    loaded_at: datetime | None
    features: list[str]
    grade_upper_bounds: dict[str, float] = Field(description="upper P(late) bound of A to D")
    metadata: dict[str, Any]
    last_reload: ReloadOut | None


class ReadyOut(BaseModel):
    ready: bool
    model_version: str | None
    store: str
    last_reload: ReloadOut | None
    warnings: list[str] = Field(
        default_factory=list,
        description="what needs attention without stopping the service: the terms policy "
        "lacking the late-payment rates of the half-year in force or of the next one",
    )


# ---- ingestion (ERP) ---------------------------------------------------------------------------

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\s].*$")]
# At least a cent: a smaller "amount" is a typing or unit error, and makes ratios to it overflow.
PositiveAmount = Annotated[float, Field(ge=MIN_AMOUNT, le=MAX_AMOUNT, allow_inf_nan=False)]
INGEST_MAX_ITEMS = 10_000


class CustomerIn(_Input):
    """A customer account as the ERP holds it; empty fields leave stored values as they are."""

    siren: Siren | None = None
    name: str | None = Field(None, max_length=200)
    payer_name: str | None = Field(None, max_length=200)
    payer_email: str | None = Field(
        None, max_length=200, pattern=EMAIL_PATTERN, examples=["compta@example.fr"]
    )
    payer_phone: str | None = Field(
        None, max_length=40, pattern=PHONE_PATTERN, examples=["+33 1 23 45 67 89"]
    )
    preferred_channel: Literal["email", "sms", "phone", "letter"] | None = None
    po_required: bool = False


class InvoiceIn(_Input):
    """An invoice; once stored it cannot change (send a credit note as a new invoice)."""

    customer_id: Identifier
    issue_date: Day
    due_date: Day
    amount: PositiveAmount = Field(description="amount including tax")
    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$")
    disputed: bool = False
    po_number: str | None = Field(None, max_length=64)


class InvoiceItem(InvoiceIn):
    invoice_id: Identifier


class InvoiceBatch(_Input):
    items: list[InvoiceItem] = Field(min_length=1, max_length=INGEST_MAX_ITEMS)


class Allocation(_Input):
    """The part of a payment applied to one invoice."""

    invoice_id: Identifier
    amount: PositiveAmount


class PaymentIn(_Input):
    """A payment received (a bank transaction) and the invoices it settles."""

    payment_id: Identifier
    paid_date: Day
    allocations: list[Allocation] = Field(
        min_length=1, max_length=1000, description="the invoices it settles, one allocation each"
    )


class PaymentBatch(_Input):
    items: list[PaymentIn] = Field(min_length=1, max_length=INGEST_MAX_ITEMS)


class IngestResult(BaseModel):
    status: Literal["created", "updated", "unchanged"]
    added: int = Field(description="rows added to the ledger")
    updated: int = Field(description="rows whose stored values changed")
    ids: list[str] = Field(description="the ids sent, in order")


# ---- audit and policy --------------------------------------------------------------------------


class DecisionOut(BaseModel):
    entry: int = Field(description="order of recording; page with `before`")
    decision_id: str
    decided_at: datetime
    caller: str = Field(description="name of the API key that asked")
    channel: str
    as_of: date
    customer_id: str | None
    siren: str | None
    amount: float | None
    grade: str
    p_late: float
    p_severe: float
    model_version: str
    policy_version: str | None
    request: dict[str, Any]
    response: dict[str, Any]


class DecisionList(BaseModel):
    count: int
    items: list[DecisionOut]
    next_before: int | None = Field(description="pass as `before` for the next (older) page")


class PolicyOut(BaseModel):
    version: str
    source: str
    description: str
    policy: dict[str, Any] = Field(description="the policy file's content")
    warnings: list[str] = Field(
        default_factory=list,
        description="the late-payment rates the policy lacks: of the half-year in force "
        "(recommendations are then flagged for review), or of the next one within a month",
    )
