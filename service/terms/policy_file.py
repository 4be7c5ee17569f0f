"""The shape of a policy file (TOML, or any mapping), checked key by key with pydantic.

This layer checks types, ranges and unknown keys and turns pydantic's errors into problems that
name the key path (``grades.D.deposit_percent: must be between 0 and 100 (got 120)``). The rules
that span several keys (the law, consistency, monotonicity across grades) are in
`service.terms.policy_checks`.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from service.terms.errors import PolicyProblem
from service.terms.law import DeadlineBasis
from service.terms.rules import DunningChannel, PaymentMethod, SettleRule, Tone

__all__ = [
    "BandFile",
    "CreditLimitFile",
    "DeadlineFile",
    "DunningStepFile",
    "GradeFile",
    "GradesFile",
    "HalfYearRatesFile",
    "OverdueFile",
    "PolicyFile",
    "SevereRiskFile",
    "parse_policy_file",
]

Number = TypeVar("Number", int, float)


def _between(low: float, high: float) -> Callable[[Number], Number]:
    def check(value: Number) -> Number:
        if not low <= value <= high:
            raise PydanticCustomError(
                "out_of_range",
                "must be between {low} and {high}",
                {"low": f"{low:,g}", "high": f"{high:,.0f}" if high >= 1e6 else f"{high:,g}"},
            )
        return value

    return check


Percent = Annotated[float, AfterValidator(_between(0, 100))]
Amount = Annotated[float, AfterValidator(_between(0, 1e10))]
RatePercent = Annotated[float, AfterValidator(_between(-5, 50))]
MessageKey = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]


class _FileModel(BaseModel):
    # strict: "10" is not 10 and true is not 1 in a file an analyst types by hand.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class DeadlineFile(_FileModel):
    days: Annotated[int, AfterValidator(_between(0, 365))]
    basis: DeadlineBasis


class CreditLimitFile(_FileModel):
    monthly_multiple: Annotated[float, AfterValidator(_between(0, 24))]
    cap: Amount


class DunningStepFile(_FileModel):
    day_offset: Annotated[int, AfterValidator(_between(-90, 365))]
    channel: DunningChannel
    tone: Tone
    level: Annotated[int, AfterValidator(_between(0, 4))]
    message_key: MessageKey


class BandFile(_FileModel):
    """Terms for orders from `from_amount` EUR; each key given replaces the one below it."""

    from_amount: Annotated[float, AfterValidator(_between(0.01, 1e10))]
    deadline: DeadlineFile | None = None
    deposit_percent: Percent | None = None
    prepayment: bool | None = None
    settle_before_new_order: SettleRule | None = None
    payment_method: PaymentMethod | None = None
    credit_limit: CreditLimitFile | None = None
    dunning: Annotated[list[DunningStepFile], Field(min_length=1)] | None = None


class GradeFile(_FileModel):
    deadline: DeadlineFile
    deposit_percent: Percent
    prepayment: bool = False
    settle_before_new_order: SettleRule = "none"
    payment_method: PaymentMethod
    credit_limit: CreditLimitFile
    dunning: Annotated[list[DunningStepFile], Field(min_length=1)]
    bands: list[BandFile] = []


class GradesFile(_FileModel):
    A: GradeFile
    B: GradeFile
    C: GradeFile
    D: GradeFile
    E: GradeFile


class HalfYearRatesFile(_FileModel):
    ecb_rate: RatePercent
    legal_rate_professionals: Annotated[float, AfterValidator(_between(0, 50))]
    penalty_rate: Annotated[float, AfterValidator(_between(0, 100))] | None = None


class OverdueFile(_FileModel):
    """A customer with an invoice more than this many days overdue settles overdue invoices
    before a new order, whatever its grade."""

    settle_first_after_days: Annotated[int, AfterValidator(_between(0, 365))]


class SevereRiskFile(_FileModel):
    """From this P(severe) on, prepayment is required whatever the grade."""

    prepayment_from_p_severe: Annotated[float, AfterValidator(_between(0.01, 1))]


class PolicyFile(_FileModel):
    version: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^\S+$")]
    description: str = ""
    interest_rates: Annotated[dict[str, HalfYearRatesFile], Field(min_length=1)]
    overdue: OverdueFile | None = None
    severe_risk: SevereRiskFile | None = None
    grades: GradesFile


def parse_policy_file(data: Mapping[str, Any]) -> PolicyFile | list[PolicyProblem]:
    """The validated file, or every problem pydantic found, each naming its key path."""
    try:
        return PolicyFile.model_validate(dict(data))
    except ValidationError as error:
        return [PolicyProblem(key_path(e["loc"]), _message(e)) for e in error.errors()]


def key_path(loc: tuple[int | str, ...]) -> str:
    """("grades", "D", "dunning", 2, "tone") -> "grades.D.dunning[2].tone"."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


_TYPE_MESSAGES = {
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "string_type": "must be a text",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "list_type": "must be a list",
    "finite_number": "must be a finite number",
    "missing": "is missing",
    "too_short": "must not be empty",
}


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return _unknown_key_message(error["loc"])
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        message = f"must be one of {expected.replace(' or ', ', ')}"
    elif kind == "string_pattern_mismatch":
        message = f"must match {error.get('ctx', {}).get('pattern')}"
    else:
        message = _TYPE_MESSAGES.get(kind, error["msg"])
    value = error.get("input")
    if kind != "missing" and isinstance(value, str | int | float | bool):
        message += f" (got {value!r})"
    return message


def _unknown_key_message(loc: tuple[int | str, ...]) -> str:
    allowed = _keys_at(loc[:-1])
    if not allowed:
        return "unknown key"
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key{hint} (allowed: {', '.join(allowed)})"


def _keys_at(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the file may have at a path, found by walking the models' annotations."""
    current: Any = PolicyFile
    for part in loc:
        current = _inner(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            current = (
                current.model_fields[part].annotation if part in current.model_fields else None
            )
        elif get_origin(current) in (list, dict):
            current = get_args(current)[-1]
        else:
            return []
    current = _inner(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _inner(annotation: Any) -> Any:
    """Strip Annotated[...] and "| None" around a type."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        else:
            return annotation
