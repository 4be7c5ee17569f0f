"""Small canonical ledgers for tests, as text the way files hold them."""

from __future__ import annotations

from pathlib import Path

CUSTOMERS_CSV = """customer_id,siren,name,payer_email,preferred_channel,po_required
C1,552032534,Dupont Matériaux,compta@dupont.example,email,false
C2,732829320,Martin Transports,,letter,true
"""

INVOICES_CSV = """invoice_id,customer_id,issue_date,due_date,amount,currency,disputed
F1,C1,2025-01-10,2025-02-09,1200.00,EUR,false
F2,C1,2025-02-10,2025-03-12,800.50,EUR,false
F3,C2,2025-03-01,2025-04-30,15000,EUR,true
"""

PAYMENTS_CSV = """payment_id,invoice_id,paid_date,amount
P1,F1,2025-02-20,1200.00
P2,F2,2025-03-10,400.25
P3,F2,2025-04-02,400.25
"""


def write_canonical(folder: Path, **overrides: str) -> Path:
    """Write customers/invoices/payments CSVs into `folder` (contents overridable by name)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"customers": CUSTOMERS_CSV, "invoices": INVOICES_CSV, "payments": PAYMENTS_CSV}
    files.update(overrides)
    for name, text in files.items():
        if text:
            (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return folder
