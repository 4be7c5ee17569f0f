"""How a payer's e-mail address is written: the pattern the import schemas check and the terms
policy's dunning contacts take (a module with no heavy imports, so that the terms policy loads
without pandas)."""

from __future__ import annotations

__all__ = ["EMAIL_PATTERN"]

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"  # an address with a domain
