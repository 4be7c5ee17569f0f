"""The late-payment rates a policy lacks, announced before and after the day it runs out,
compared with a day-by-day walk over the calendar."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from service.terms import TermsPolicy
from service.terms.law import half_year_of
from service.terms.rates_due import WARN_DAYS_BEFORE, missing_rates, rates_days_left
from tests.service.test_terms_policy import default_dict

HALF_YEARS = [f"{year}-H{half}" for year in range(2023, 2029) for half in (1, 2)]


def policy_with(half_years: list[str]) -> TermsPolicy:
    data = default_dict()
    data["interest_rates"] = {
        key: {"ecb_rate": 2.15, "legal_rate_professionals": 2.62} for key in half_years
    }
    return TermsPolicy.from_dict(data)


SHIPPED_UP_TO_2026_H1 = policy_with(HALF_YEARS[: HALF_YEARS.index("2026-H1") + 1])


def test_nothing_is_due_while_the_half_year_and_the_next_month_have_rates() -> None:
    today = date(2026, 3, 1)
    assert missing_rates(SHIPPED_UP_TO_2026_H1, today) == []
    assert rates_days_left(SHIPPED_UP_TO_2026_H1, today) == 122  # to 1 July 2026


def test_the_next_half_year_is_announced_a_month_ahead() -> None:
    assert missing_rates(SHIPPED_UP_TO_2026_H1, date(2026, 5, 30)) == []  # 32 days ahead
    [gap] = missing_rates(SHIPPED_UP_TO_2026_H1, date(2026, 5, 31))  # 31 days ahead
    assert (gap.half_year, gap.starts, gap.used, gap.in_force) == (
        "2026-H2", date(2026, 7, 1), "2026-H1", False
    )  # fmt: skip
    message = gap.message()
    assert "starts on 1 July 2026 (in 31 days)" in message
    assert "add [interest_rates.2026-H2]" in message
    assert "will use those of 2026-H1 and be flagged for review" in message


def test_a_half_year_in_force_without_rates_and_the_next_one() -> None:
    today = date(2026, 12, 7)
    now, upcoming = missing_rates(SHIPPED_UP_TO_2026_H1, today)
    assert (now.half_year, now.in_force, now.used) == ("2026-H2", True, "2026-H1")
    assert "(since 1 July 2026): recommendations use those of 2026-H1" in now.message()
    assert "ECB main refinancing rate in force on 1 July 2026" in now.message()
    assert (upcoming.half_year, upcoming.in_force) == ("2027-H1", False)
    assert "starts on 1 January 2027 (in 25 days)" in upcoming.message()
    assert rates_days_left(SHIPPED_UP_TO_2026_H1, today) == 0
    # From September the next half-year is too far off to announce.
    assert [gap.half_year for gap in missing_rates(SHIPPED_UP_TO_2026_H1, date(2026, 9, 1))] == [
        "2026-H2"
    ]


def test_rates_added_for_both_half_years_silence_the_notes() -> None:
    policy = policy_with(HALF_YEARS[: HALF_YEARS.index("2027-H1") + 1])
    today = date(2026, 12, 7)
    assert missing_rates(policy, today) == []
    assert rates_days_left(policy, today) == (date(2027, 7, 1) - today).days


def test_a_policy_whose_rates_start_later_uses_the_first_known() -> None:
    [now, _] = missing_rates(policy_with(["2027-H2"]), date(2026, 12, 20))
    assert (now.half_year, now.used) == ("2026-H2", "2027-H2")


def _walk_days_left(known: set[str], today: date) -> int:
    """Day by day over the three half-years from today's: the first day without rates."""
    day = today
    end = date(today.year + 1, 7, 1) if today.month <= 6 else date(today.year + 2, 1, 1)
    while day < end:
        if half_year_of(day) not in known:
            return (day - today).days
        day += timedelta(days=1)
    return (end - today).days


@settings(max_examples=120, deadline=None)
@given(
    known=st.sets(st.sampled_from(HALF_YEARS), min_size=1),
    today=st.dates(min_value=date(2023, 1, 1), max_value=date(2027, 12, 31)),
)
def test_missing_rates_match_a_walk_over_the_calendar(known: set[str], today: date) -> None:
    policy = policy_with(sorted(known))
    window = [today + timedelta(days=offset) for offset in range(WARN_DAYS_BEFORE + 1)]
    expected = list(dict.fromkeys(half_year_of(day) for day in window))
    expected = [key for key in expected if key not in known]
    gaps = missing_rates(policy, today)
    assert [gap.half_year for gap in gaps] == expected
    for gap in gaps:
        assert gap.in_force == (gap.half_year == half_year_of(today))
        assert gap.used == policy.rates_for(gap.starts)[0]
        assert gap.used in known
    assert rates_days_left(policy, today) == _walk_days_left(known, today)
