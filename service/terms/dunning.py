"""A policy's dunning plan made concrete for one invoice: dates, channels and addressees."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, timedelta

from service.terms.memo import by_identity
from service.terms.request import PayerContact
from service.terms.result import Adjustment, DunningStep
from service.terms.rules import DunningChannel, DunningRule

__all__ = ["THANK_YOU_KEY", "dunning_plan"]

THANK_YOU_KEY = "thank_you"
_REMINDER_CHANNELS: tuple[DunningChannel, ...] = ("email", "sms", "phone", "letter")
# Up to the first reminder after the due date the customer's preferred channel is used; later
# steps keep the policy's channel, because escalating is also a change of channel.
_LAST_LEVEL_ON_PREFERRED_CHANNEL = 1


def dunning_plan(
    rules: tuple[DunningRule, ...],
    due: date,
    invoice_date: date,
    preferred: DunningChannel | None,
    payer: PayerContact | None,
    good_payer: bool,
) -> tuple[tuple[DunningStep, ...], Adjustment | None]:
    """The plan's steps on their dates, without those that would come before the invoice, and
    the note on the reminders left out, if any. The same plan is the same object (frozen)."""
    return _plans_of(rules)(due, invoice_date, preferred, payer, good_payer)


@by_identity(256)
def _plans_of(
    rules: tuple[DunningRule, ...],
) -> Callable[..., tuple[tuple[DunningStep, ...], Adjustment | None]]:
    """The plans of one grade's rules, each made once: a batch's orders of one day and grade
    mostly share their plan."""
    return functools.lru_cache(maxsize=4096)(functools.partial(_plan, rules))


def _plan(
    rules: tuple[DunningRule, ...],
    due: date,
    invoice_date: date,
    preferred: DunningChannel | None,
    payer: PayerContact | None,
    good_payer: bool,
) -> tuple[tuple[DunningStep, ...], Adjustment | None]:
    steps = []
    skipped = []
    for rule in rules:
        scheduled_on = due + timedelta(days=rule.day_offset)
        if scheduled_on < invoice_date:  # a reminder J-15 of an invoice due in 10 days
            skipped.append(f"J{rule.day_offset}")
            continue
        channel = _channel(rule, preferred, payer)
        steps.append(
            DunningStep(
                day_offset=rule.day_offset,
                channel=channel,
                tone=rule.tone,
                level=rule.level,
                to=_address(channel, payer),
                message_key=rule.message_key,
                scheduled_on=scheduled_on,
            )
        )
    note = None
    if skipped:
        note = Adjustment(
            "dunning_plan",
            "dunning",
            f"reminders before the due date skipped ({', '.join(skipped)}): they would come "
            "before the invoice date",
        )
    if good_payer:
        steps.append(_thank_you(preferred, payer))
    return tuple(steps), note


def _channel(
    rule: DunningRule, preferred: DunningChannel | None, payer: PayerContact | None
) -> DunningChannel:
    if (
        preferred is None
        or rule.level > _LAST_LEVEL_ON_PREFERRED_CHANNEL
        or rule.channel not in _REMINDER_CHANNELS
        or not _reachable(preferred, payer)
    ):
        return rule.channel
    return preferred


def _reachable(channel: DunningChannel, payer: PayerContact | None) -> bool:
    # A letter goes to the customer's registered address, which the supplier always has.
    return channel == "letter" or _address(channel, payer) is not None


def _address(channel: DunningChannel, payer: PayerContact | None) -> str | None:
    if payer is None:
        return None
    if channel == "email":
        return payer.email
    if channel in ("sms", "phone"):
        return payer.phone
    return payer.name


def _thank_you(preferred: DunningChannel | None, payer: PayerContact | None) -> DunningStep:
    """A good payer is thanked once the invoice is paid: it keeps the relationship warm."""
    channel: DunningChannel = preferred or "email"
    if not _reachable(channel, payer):
        channel = "email"
    return DunningStep(
        day_offset=0,
        channel=channel,
        tone="friendly",
        level=0,
        to=_address(channel, payer),
        message_key=THANK_YOU_KEY,
        scheduled_on=None,
        trigger="payment",
    )
