"""The payment terms to print on an invoice, in French, as L441-9 and L441-10 II require.

An invoice must state the due date, the late-payment penalty rate, the fixed 40 € recovery
indemnity and the conditions of any early-payment discount. French typography: a decimal
comma, a non-breaking space before "%" and "€", dates as dd/mm/yyyy.
"""

from __future__ import annotations

from decimal import Decimal

from service.terms.law import RECOVERY_INDEMNITY_EUR
from service.terms.result import LatePaymentInterest, PaymentDeadline

__all__ = ["legal_notice"]

NBSP = "\u00a0"


def legal_notice(
    deadline: PaymentDeadline, interest: LatePaymentInterest, *, prepayment: bool
) -> str:
    return " ".join(
        (
            _payment_sentence(deadline, prepayment),
            _penalty_sentence(interest),
            # No early-payment discount is the usual choice; the mention itself is mandatory.
            "Pas d'escompte pour paiement anticipé.",
        )
    )


def _payment_sentence(deadline: PaymentDeadline, prepayment: bool) -> str:
    due = deadline.due_date.strftime("%d/%m/%Y")
    if prepayment:
        return f"Paiement intégral à la commande, avant livraison (au plus tard le {due})."
    if deadline.days == 0 and deadline.basis == "invoice_date":
        return f"Paiement comptant à réception de la facture, le {due}."
    if deadline.basis == "end_of_month":
        days = deadline.days
        counted = f"{days} jours fin de mois (fin du mois de la facture + {days} jours)"
    else:
        counted = f"{deadline.days} jours à compter de la date de facture"
    return f"Paiement à {counted}, soit au plus tard le {due}."


def _penalty_sentence(interest: LatePaymentInterest) -> str:
    rate = _percent(interest.rate_percent)
    match interest.rule:
        case "ecb_plus_10":
            ecb = _percent(interest.ecb_rate_percent)
            basis = f"taux de refinancement de la BCE de {ecb} majoré de 10 points"
        case "legal_floor":
            basis = f"trois fois le taux d'intérêt légal de {_percent(interest.legal_rate_percent)}"
        case "contractual":
            basis = "taux contractuel"
    return (
        "Tout retard de paiement rend exigibles de plein droit, sans rappel, des pénalités de "
        f"retard au taux annuel de {rate} ({basis}) et une indemnité forfaitaire pour frais de "
        f"recouvrement de {RECOVERY_INDEMNITY_EUR}{NBSP}€, une indemnisation complémentaire "
        "pouvant être demandée sur justificatifs (Code de commerce, art. L441-10 et D441-5)."
    )


def _percent(value: Decimal) -> str:
    return f"{value:.2f}".replace(".", ",") + f"{NBSP}%"
