"""Single scores that arrive together are answered together.

Under load, many `/v1/score` requests wait on a worker's event loop at once. Each one is put
here with a future; a callback, which the loop runs once every request of its current turn has
been put, scores the waiting ones in one call per kind (with or without reasons), logs their
decisions in one transaction and then resolves the futures. Scoring and logging twenty rows
costs little more than one: the ledger look-up, the model calls and the commit are paid once.

A request alone is answered alone, one turn of the loop later: nothing waits on a timer, so an
idle service answers as fast as before. Every answer is still logged before it is sent, and
one bad request (an unknown customer) fails alone: a round that raises is answered again one
request at a time, and so is one whose decisions the log refuses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from service.answers import ScoreAnswer, answers_json
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

    def __init__(
        self,
        scorer: Scorer,
        audit: AuditLog,
        metrics: ServiceMetrics,
    ) -> None:
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
        data or not); each one alone when scoring them together fails."""
        requests = [w.request for w in group]
        try:
            results = self.scorer.score(requests, explain=requests[0].explain)
        except Exception as error:
            if len(group) > 1:  # whose error it is: each request answered on its own
                for one in group:
                    self._answer([one])
            else:
                group[0].answer.set_exception(error)
            return
        sent = answers_json(results)
        self._log_and_answer(group, results, sent)

    def _log_and_answer(
        self, group: Sequence[_Waiting], results: Sequence[ScoreAnswer], sent: Sequence[bytes]
    ) -> None:
        """Answer once the decisions are logged, in one transaction; when that fails, each
        one in a transaction of its own (a decision the log refuses fails only its request)."""
        caller = group[0].caller
        try:
            self.audit.record(
                [w.request for w in group], results, caller=caller.name, key_id=caller.key_id,
                channel=CHANNEL, policy_version=self.scorer.policy_version, sent=sent,
                chunked=False,
            )  # fmt: skip
        except Exception as error:  # not logged: not answered
            if len(group) > 1:
                for i, one in enumerate(group):
                    self._log_and_answer([one], results[i : i + 1], sent[i : i + 1])
            else:
                group[0].answer.set_exception(error)
            return
        self.metrics.scored(r.grade for r in results)
        for one, answer in zip(group, sent, strict=True):
            one.answer.set_result(answer)
