"""What French law allows in B2B payment terms, whatever a policy file or a customer asks.

Sources, as this module reads them (Code de commerce, versions in force in 2026):

- L441-10 I: the agreed payment deadline is at most 60 days from the invoice date, or, when the
  contract says so expressly, 45 days end of month. "45 days end of month" is counted here as
  *end of the invoice's month + 45 days*, the most common reading (DGCCRF also accepts "invoice
  date + 45 days, then end of that month"; the two differ by a few days either way).
- L441-11 II: shorter, mandatory caps for some goods and services (table `SECTOR_CAPS`). They are
  counted from delivery; an invoice must be issued at delivery (L441-9 I), so the invoice date
  stands for the delivery date.
- L441-10 II: late-payment penalties at the ECB's latest main refinancing rate + 10 points,
  the rate in force on 1 January for the first half-year and on 1 July for the second; a
  contractual rate may differ but never below three times the legal interest rate.
- D441-5: the fixed recovery indemnity is 40 EUR, owed on every late invoice.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Literal

__all__ = [
    "DEADLINE_BASES",
    "MAX_DAYS_END_OF_MONTH",
    "MAX_DAYS_FROM_INVOICE",
    "PENALTY_FLOOR_MULTIPLE",
    "PENALTY_MARGIN_POINTS",
    "RECOVERY_INDEMNITY_EUR",
    "SECTOR_CAPS",
    "DeadlineBasis",
    "PenaltyRate",
    "SectorCap",
    "due_date",
    "end_of_month",
    "general_cap_days",
    "half_year_of",
    "half_year_start",
    "normalized_naf",
    "parse_half_year",
    "penalty_floor",
    "penalty_rate",
    "sector_caps_for",
]

DeadlineBasis = Literal["invoice_date", "end_of_month"]
DEADLINE_BASES: tuple[DeadlineBasis, ...] = ("invoice_date", "end_of_month")

MAX_DAYS_FROM_INVOICE = 60  # L441-10 I
MAX_DAYS_END_OF_MONTH = 45  # L441-10 I, only when expressly agreed in the contract
RECOVERY_INDEMNITY_EUR = 40  # D441-5
PENALTY_MARGIN_POINTS = Decimal(10)  # L441-10 II: ECB refinancing rate + 10 points
PENALTY_FLOOR_MULTIPLE = Decimal(3)  # L441-10 II: never below 3 x the legal interest rate

_NAF = re.compile(r"^(\d{2})\.?(\d{2})([A-Z])$")
_HALF_YEAR = re.compile(r"^(\d{4})-H([12])$")


def end_of_month(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def due_date(invoice_date: date, days: int, basis: DeadlineBasis) -> date:
    """The due date of a deadline of `days` counted on `basis` for an invoice of that date."""
    start = end_of_month(invoice_date) if basis == "end_of_month" else invoice_date
    return start + timedelta(days=days)


def general_cap_days(basis: DeadlineBasis) -> int:
    """The most days L441-10 I allows on a basis."""
    return MAX_DAYS_END_OF_MONTH if basis == "end_of_month" else MAX_DAYS_FROM_INVOICE


@dataclass(frozen=True, slots=True)
class SectorCap:
    """A mandatory shorter deadline for some goods or services, found by NAF code prefix.

    A cap applies when the customer's or the supplier's NAF code starts with one of the prefixes:
    the law caps what is *sold*, which the supplier's code says best, but the customer's code is
    checked too, so that a missing or broad supplier code never lets an illegal term through.
    Where a NAF group mixes capped and uncapped goods the whole group is capped: stricter than
    the law, never looser.
    """

    naf_prefixes: tuple[str, ...]
    days: int
    basis: DeadlineBasis
    article: str
    goods: str

    def applies_to(self, naf_code: str) -> bool:
        return naf_code.startswith(self.naf_prefixes)

    def latest_due_date(self, invoice_date: date) -> date:
        return due_date(invoice_date, self.days, self.basis)


def _prefixes(codes: str) -> tuple[str, ...]:
    return tuple(codes.split())


# L441-11 II, as read in 2026. Room for more: periodic invoices (L441-10 I: 45 days from the
# invoice date) and grapes and must for wine (L441-11 II 4°: the general caps) need no entry.
SECTOR_CAPS: tuple[SectorCap, ...] = (
    SectorCap(
        # 01.41 dairy farms also sell cull cows: the stricter cap.
        naf_prefixes=_prefixes("01.41 01.42 01.45 01.46 01.47 10.11 10.12 46.23 46.32A"),
        days=20,
        basis="invoice_date",
        article="L441-11 II 2°",
        goods="livestock for consumption and fresh meat, at most 20 days after delivery",
    ),
    SectorCap(
        # 10.1 meat, 10.2 fish, 10.3 fruit and vegetables, 10.5 dairy, 10.7 bakery and fresh
        # pastry, 10.85 ready meals, 46.3 food wholesale, and the farms and fisheries that
        # sell perishable produce. 10.7 and 46.3 include some non-perishable goods: capped too.
        naf_prefixes=_prefixes("01.13 01.24 01.25 03. 10.1 10.2 10.3 10.5 10.7 10.85 46.3"),
        days=30,
        basis="invoice_date",
        article="L441-11 II 1°",
        goods="perishable food, frozen meat and fish, ready meals, at most 30 days after delivery",
    ),
    SectorCap(
        naf_prefixes=("11.01",),
        days=30,
        basis="end_of_month",
        article="L441-11 II 3°",
        goods="spirits subject to excise duty, at most 30 days after the end of the month of "
        "delivery",
    ),
    SectorCap(
        # The law names road haulage, vehicle rental with or without driver, freight forwarding,
        # customs brokerage, shipping and air-freight agents and freight brokers. 52.2 (support
        # services to transport) is capped as a whole. This cap is 30 days, not 20: 20 days
        # is the livestock and fresh-meat cap above.
        naf_prefixes=("49.41", "49.42", "52.2", "77.11", "77.12"),
        days=30,
        basis="invoice_date",
        article="L441-11 II",  # transport (ex-L441-6 I); the 5° as read here
        goods="road haulage, vehicle rental and freight forwarding, at most 30 days from the "
        "invoice date",
    ),
)


def normalized_naf(code: str) -> str:
    """A NAF rev. 2 code as "46.32A", from "46.32A", "4632A" or "46.32a"; ValueError otherwise."""
    match = _NAF.match(code.strip().upper())
    if match is None:
        raise ValueError(f"{code!r} is not a NAF rev. 2 code like 46.32A")
    return f"{match[1]}.{match[2]}{match[3]}"


def sector_caps_for(naf_codes: Iterable[str | None]) -> tuple[SectorCap, ...]:
    """Every sector cap that applies to any of the (normalized) NAF codes given."""
    codes = [code for code in naf_codes if code]
    return tuple(cap for cap in SECTOR_CAPS if any(cap.applies_to(code) for code in codes))


def half_year_of(day: date) -> str:
    """The half-year a date falls in, as keyed in a policy's rate table: "2026-H1"."""
    return f"{day.year}-H{1 if day.month <= 6 else 2}"


def parse_half_year(key: str) -> tuple[int, int] | None:
    """(year, half) of a key like "2026-H2", or None when it is not one."""
    match = _HALF_YEAR.match(key)
    return (int(match[1]), int(match[2])) if match else None


def half_year_start(key: str) -> date:
    """The first day of a half-year ("2026-H2": 1 July 2026); ValueError if `key` is not one."""
    parsed = parse_half_year(key)
    if parsed is None:
        raise ValueError(f"{key!r} is not a half-year like 2026-H1")
    year, half = parsed
    return date(year, 1 if half == 1 else 7, 1)


def penalty_floor(legal_rate: Decimal) -> Decimal:
    """Three times the legal rate, rounded *up* to the cent so that rounding never undercuts it."""
    return (PENALTY_FLOOR_MULTIPLE * legal_rate).quantize(Decimal("0.01"), ROUND_CEILING)


@dataclass(frozen=True, slots=True)
class PenaltyRate:
    """The late-payment rate of a half-year and which rule set it."""

    percent: Decimal
    rule: Literal["ecb_plus_10", "legal_floor", "contractual"]
    floor_percent: Decimal


def penalty_rate(
    ecb_rate: Decimal, legal_rate: Decimal, contractual: Decimal | None = None
) -> PenaltyRate:
    """ECB + 10 points, or three times the legal rate when that is higher.

    The law's default (ECB + 10) applies when the contract says nothing; printing the floor
    instead when the default falls below it (as in 2024-H1) is a lawful contractual rate. A
    contractual rate from the policy is used as is: the policy loader refuses one below the
    floor.
    """
    floor = penalty_floor(legal_rate)
    if contractual is not None:
        return PenaltyRate(contractual, "contractual", floor)
    default = ecb_rate + PENALTY_MARGIN_POINTS
    if default >= floor:
        return PenaltyRate(default, "ecb_plus_10", floor)
    return PenaltyRate(floor, "legal_floor", floor)
