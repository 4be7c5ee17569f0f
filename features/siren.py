"""SIREN numbers: 9 digits with a Luhn checksum (the French company identifier)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.errors import InvalidSiren

SIREN_LENGTH = 9


def luhn_is_valid(digits: str) -> bool:
    """True when the digit string passes the Luhn checksum."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def normalize_siren(value: object) -> str:
    """Return the 9-digit SIREN, tolerating spaces; raise InvalidSiren otherwise.

    A SIRET (14 digits) is refused rather than truncated: the caller should say which it sends.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        raise InvalidSiren(value, "missing")
    text = str(value).replace(" ", "").replace("\u00a0", "")
    if not text.isdigit():
        raise InvalidSiren(value, "contains characters other than digits")
    if len(text) != SIREN_LENGTH:
        raise InvalidSiren(value, f"has {len(text)} digits, expected {SIREN_LENGTH}")
    if not luhn_is_valid(text):
        raise InvalidSiren(value, "fails the Luhn checksum")
    return text


def luhn_check_digit(partial: str) -> str:
    """The digit to append to `partial` so that the whole passes the Luhn checksum."""
    for digit in "0123456789":
        if luhn_is_valid(partial + digit):
            return digit
    raise AssertionError("unreachable: one of ten digits always completes a Luhn number")


def siren_problems(values: pd.Series) -> pd.Series:
    """Vectorised check of a column of SIRENs: the reason each invalid one fails, else NA.

    Null values are not judged here (whether a SIREN is required is the schema's business).
    """
    text = values.astype("string").str.replace(r"[\s\u00a0]", "", regex=True)
    reasons = pd.Series(pd.NA, index=values.index, dtype="string")
    present = text.notna()
    is_digits = text.str.fullmatch(r"\d+").fillna(False).astype(bool)
    reasons[present & ~is_digits] = "contains characters other than digits"
    wrong_length = present & is_digits & (text.str.len() != SIREN_LENGTH)
    reasons[wrong_length] = "does not have 9 digits"
    candidates = present & is_digits & ~wrong_length
    if candidates.any():
        codes = np.frombuffer(
            "".join(text[candidates].tolist()).encode("ascii"), dtype=np.uint8
        ).reshape(-1, SIREN_LENGTH) - ord("0")
        codes = codes.astype(np.int16)
        doubled = codes[:, 1::2] * 2  # positions 2, 4, 6, 8 from the left = every second from right
        codes[:, 1::2] = np.where(doubled > 9, doubled - 9, doubled)
        bad = (codes.sum(axis=1) % 10) != 0
        bad_index = text[candidates].index[bad]
        reasons[bad_index] = "fails the Luhn checksum"
    return reasons


def normalized_sirens(values: pd.Series) -> pd.Series:
    """SIRENs without spaces, as strings (nulls kept)."""
    return values.astype("string").str.replace(r"[\s\u00a0]", "", regex=True)
