"""The legal core: due dates, sector caps by NAF code and the late-payment penalty rate."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from service.terms.law import (
    due_date,
    end_of_month,
    half_year_of,
    normalized_naf,
    parse_half_year,
    penalty_floor,
    penalty_rate,
    sector_caps_for,
)


@pytest.mark.parametrize(
    ("invoice_date", "days", "basis", "due"),
    [
        (date(2026, 3, 10), 60, "invoice_date", date(2026, 5, 9)),
        (date(2026, 3, 10), 0, "invoice_date", date(2026, 3, 10)),
        # 45 days end of month = end of the invoice's month + 45 days.
        (date(2026, 1, 31), 45, "end_of_month", date(2026, 3, 17)),
        (date(2026, 1, 1), 45, "end_of_month", date(2026, 3, 17)),
        (date(2028, 2, 10), 45, "end_of_month", date(2028, 4, 14)),  # leap year: Feb 29 + 45
        (date(2026, 12, 15), 30, "end_of_month", date(2027, 1, 30)),
        (date(2026, 4, 30), 0, "end_of_month", date(2026, 4, 30)),
    ],
)
def test_due_date(invoice_date: date, days: int, basis: str, due: date) -> None:
    assert due_date(invoice_date, days, basis) == due  # type: ignore[arg-type]


def test_end_of_month() -> None:
    assert end_of_month(date(2027, 2, 3)) == date(2027, 2, 28)
    assert end_of_month(date(2028, 2, 3)) == date(2028, 2, 29)


@pytest.mark.parametrize(
    ("naf", "caps"),
    [
        ("10.11Z", {"L441-11 II 2°": 20, "L441-11 II 1°": 30}),  # fresh meat: the 20 days bind
        ("46.32A", {"L441-11 II 2°": 20, "L441-11 II 1°": 30}),
        ("10.51A", {"L441-11 II 1°": 30}),
        ("46.31Z", {"L441-11 II 1°": 30}),
        ("10.71C", {"L441-11 II 1°": 30}),
        ("11.01Z", {"L441-11 II 3°": 30}),
        ("49.41A", {"L441-11 II": 30}),
        ("52.29B", {"L441-11 II": 30}),
        ("77.12Z", {"L441-11 II": 30}),
        ("62.01Z", {}),
        ("46.69B", {}),
        ("11.02B", {}),  # wine: the general caps (L441-11 II 4°)
    ],
)
def test_sector_caps_by_naf_code(naf: str, caps: dict[str, int]) -> None:
    assert {cap.article: cap.days for cap in sector_caps_for([naf])} == caps


def test_sector_caps_apply_for_the_customer_or_the_supplier() -> None:
    assert [cap.days for cap in sector_caps_for([None, "49.41A"])] == [30]
    assert sector_caps_for([None, None]) == ()
    assert sector_caps_for(["10.11Z", "49.41A"])[0].days == 20


@pytest.mark.parametrize(
    ("raw", "normal"), [("46.32A", "46.32A"), ("4632A", "46.32A"), (" 46.32a ", "46.32A")]
)
def test_naf_codes_are_normalized(raw: str, normal: str) -> None:
    assert normalized_naf(raw) == normal


@pytest.mark.parametrize("raw", ["4632", "46.3", "AB.CDE", ""])
def test_a_malformed_naf_code_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="NAF"):
        normalized_naf(raw)


def test_half_years() -> None:
    assert half_year_of(date(2026, 6, 30)) == "2026-H1"
    assert half_year_of(date(2026, 7, 1)) == "2026-H2"
    assert parse_half_year("2026-H2") == (2026, 2)
    assert parse_half_year("2026-H3") is None
    assert parse_half_year("26-H1") is None


@pytest.mark.parametrize(
    ("ecb", "legal", "contractual", "rate", "rule"),
    [
        ("2.15", "2.62", None, "12.15", "ecb_plus_10"),  # 2026-H1
        ("4.50", "5.07", None, "15.21", "legal_floor"),  # 2024-H1: 3 x 5.07 > 14.50
        ("4.25", "4.92", None, "14.76", "legal_floor"),  # 2024-H2
        ("-0.50", "0.10", None, "9.50", "ecb_plus_10"),
        ("2.15", "2.62", "9", "9", "contractual"),
    ],
)
def test_penalty_rate(ecb: str, legal: str, contractual: str | None, rate: str, rule: str) -> None:
    found = penalty_rate(
        Decimal(ecb), Decimal(legal), None if contractual is None else Decimal(contractual)
    )
    assert (found.percent, found.rule) == (Decimal(rate), rule)
    assert found.floor_percent == penalty_floor(Decimal(legal))


def test_the_floor_is_rounded_up_never_down() -> None:
    assert penalty_floor(Decimal("1.005")) == Decimal("3.02")  # 3.015 exactly
    assert penalty_floor(Decimal("2.76")) == Decimal("8.28")
