"""Single scores that arrive together are answered together.

Under load, many `/v1/score` requests wait on a worker's event loop at once. Each one is put
here with a future; a callback, which the loop runs once every request of its current turn has
been put, scores the waiting ones in one call per kind (caller, reasons or not, inline company
data or not), logs their decisions in one transaction and then resolves the futures. Scoring
and logging twenty rows costs little more than one: the ledger look-up, the model calls and
the commit are paid once.

A request alone is answered alone, one turn of the loop later: nothing waits on a timer, so an
idle service answers as fast as before. Every answer is still logged before it is sent, and
one bad request fails alone: a round whose scoring or logging raises is answered again one
request at a time (an unknown customer, a decision the log refuses).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from service.answers import answers_json
from service.audit import AuditLog
from service.keys import ApiKey
from service.metrics import ServiceMetrics
from service.schemas import ScoreRequest
from service.scoring import Scorer

__all__ = ["ScoreRounds"]

CHANNEL = "score"


@dataclass(slots=True)
class _Waiting:
    request: ScoreRequest
    caller: ApiKey
    answer: asyncio.Future[bytes]


class ScoreRounds:
    """Scores single requests in rounds: those waiting on the event loop at the same turn."""

    def __init__(self, scorer: Scorer, audit: AuditLog, metrics: ServiceMetrics) -> None:
        self.scorer = scorer
        self.audit = audit
        self.metrics = metrics
        # One round per event loop (a worker has one; a test's clients may bring more).
        self._rounds: dict[asyncio.AbstractEventLoop, list[_Waiting]] = {}

    async def score(self, request: ScoreRequest, caller: ApiKey) -> bytes:
        """The answer to one request as the JSON sent, once its decision is logged; the
        request's own error (an unknown customer, a decision day in the future) otherwise."""
        loop = asyncio.get_running_loop()
        waiting = self._rounds.get(loop)
        if waiting is None:
            waiting = self._rounds[loop] = []
            loop.call_soon(self._answer_round, loop)
        answer: asyncio.Future[bytes] = loop.create_future()
        waiting.append(_Waiting(request, caller, answer))
        return await answer

    def _answer_round(self, loop: asyncio.AbstractEventLoop) -> None:
        waiting = [w for w in self._rounds.pop(loop) if not w.answer.done()]  # done: cancelled
        self.metrics.score_round(len(waiting))
        # Inline company data is read from the database, the others from the book in memory:
        # apart, so that one prospect described inline does not send the round to the database.
        kinds: dict[tuple[str | None, bool, bool], list[_Waiting]] = {}
        for one in waiting:
            kind = (one.caller.key_id, one.request.explain, one.request.company is not None)
            kinds.setdefault(kind, []).append(one)
        try:
            for group in kinds.values():
                self._answer(group)
        except Exception as error:  # unforeseen: no request may wait for ever
            for one in waiting:
                if not one.answer.done():
                    one.answer.set_exception(error)

    def _answer(self, group: Sequence[_Waiting]) -> None:
        """Score, log and answer requests of one kind (caller, reasons or not, inline company
        data or not). When scoring or logging them together fails, each one is answered on
        its own: the error is then its own request's (an unknown customer, a decision the log
        refuses), and the others are still scored, logged and answered."""
        try:
            sent = self._scored_and_logged(group)
        except Exception as error:
            if len(group) > 1:
                for one in group:
                    self._answer([one])
            else:
                group[0].answer.set_exception(error)
            return
        for one, answer in zip(group, sent, strict=True):
            one.answer.set_result(answer)

    def _scored_and_logged(self, group: Sequence[_Waiting]) -> list[bytes]:
        """The answers as sent, once their decisions are logged in one transaction."""
        requests = [w.request for w in group]
        results = self.scorer.score(requests, explain=requests[0].explain)
        sent = answers_json(results)
        caller = group[0].caller
        self.audit.record(
            requests, results, caller=caller.name, key_id=caller.key_id, channel=CHANNEL,
            policy_version=self.scorer.policy_version, sent=sent, chunked=False,
        )  # fmt: skip
        self.metrics.scored(r.grade for r in results)
        return sent
