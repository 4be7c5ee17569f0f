import pandas as pd
import pytest

from features.errors import InvalidSiren
from features.siren import luhn_check_digit, luhn_is_valid, normalize_siren, siren_problems


def reference_luhn(digits: str) -> bool:
    """Textbook Luhn: double every second digit from the right, sum the digits of each."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        doubled = int(char) * (2 if i % 2 else 1)
        total += sum(int(d) for d in str(doubled))
    return total % 10 == 0


@pytest.mark.parametrize("siren", ["552032534", "732829320", "443061841", "542065479"])
def test_known_sirens_pass(siren: str) -> None:
    assert luhn_is_valid(siren)
    assert normalize_siren(siren[:3] + " " + siren[3:6] + " " + siren[6:]) == siren


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("552032535", "Luhn"),
        ("55203253", "8 digits"),
        ("5520325345", "10 digits"),
        ("55203253A", "other than digits"),
        (None, "missing"),
    ],
)
def test_invalid_sirens_are_refused_with_the_reason(value: str | None, reason: str) -> None:
    with pytest.raises(InvalidSiren, match=reason) as raised:
        normalize_siren(value)
    assert "Luhn checksum" in str(raised.value)  # the rule is always explained


def test_vectorised_check_agrees_with_the_textbook_rule() -> None:
    numbers = [f"{n:09d}" for n in range(100_000_000, 100_000_000 + 3_000, 7)]
    reasons = siren_problems(pd.Series(numbers))
    for number, reason in zip(numbers, reasons, strict=True):
        assert pd.isna(reason) == reference_luhn(number)


def test_check_digit_completes_a_valid_siren() -> None:
    for partial in ("55203253", "12345678", "00000000"):
        assert reference_luhn(partial + luhn_check_digit(partial))
