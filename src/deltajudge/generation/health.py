"""How hard to push an endpoint, and when to stop: adaptive concurrency, retries with
jitter, and a circuit breaker that says once why an endpoint is down.

Three failures a thousand-case run must survive without a thousand identical errors:

* **Rate limits.** A 429 halves the endpoint's concurrency (at most once a second, so one
  burst of 429s is one cut); each success adds back ``1/limit``, so the limit climbs by
  about one per window of successful calls (AIMD, as TCP does). Retries wait the server's
  ``Retry-After`` (or an exponential backoff) times a random factor, so the calls a 429
  turned away do not all come back in the same instant.
* **A dead or unreachable endpoint.** Consecutive connection failures and timeouts with no
  success in between mark the endpoint *down*: every call in flight and every later call
  ends at once with `EndpointDown`, and the run's summary states the cause once.
* **A dead local server.** A watcher that knows the server process exited marks its
  endpoint down with the process's own story (signal, log tail), at once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TypeVar

from deltajudge.errors import CallError, EndpointDown

T = TypeVar("T")

#: Consecutive endpoint faults (refused, reset, timed out) that mark an endpoint down ...
TRIP_FAULTS = 5
#: ... once they span this long, so a burst from one blip does not end a run; timeouts
#: trip without waiting, since each one already waited the whole timeout.
TRIP_SPAN_S = 2.0
#: Backoff before retry n (0-based) when the server gives no Retry-After: 0.5, 1, 2, 4 s ...
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 20.0
#: A 429 cuts the limit at most this often: the 429s of one window are one signal.
THROTTLE_COOLDOWN_S = 1.0
#: Retries of a 429, apart from ``max_retries``: a rate limit means "later", not "broken",
#: and while the limit is still coming down some calls are turned away several times.
THROTTLED_RETRIES = 12


class AdaptiveLimit:
    """At most `limit` calls in flight; the limit moves between 1 and ``ceiling``."""

    def __init__(self, ceiling: int) -> None:
        self.ceiling = ceiling
        self._limit = float(ceiling)
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._last_cut = -THROTTLE_COOLDOWN_S
        #: For the report: the lowest limit applied and how many 429s were seen.
        self.lowest = ceiling
        self.throttles = 0

    @property
    def limit(self) -> int:
        return max(1, int(self._limit))

    async def __aenter__(self) -> None:
        if self._in_use < self.limit and not self._waiters:
            self._in_use += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # `_wake` counts us in before it sets the result
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # granted and cancelled at once: hand the slot on
            else:
                self._waiters.remove(waiter)
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release()

    def throttled(self) -> None:
        self.throttles += 1
        now = time.monotonic()
        if now - self._last_cut >= THROTTLE_COOLDOWN_S:
            self._last_cut = now
            self._limit = max(1.0, self._limit / 2)
            self.lowest = min(self.lowest, self.limit)

    def succeeded(self) -> None:
        if self._limit < self.ceiling:
            self._limit = min(float(self.ceiling), self._limit + 1 / self._limit)
            self._wake()

    def _release(self) -> None:
        self._in_use -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._in_use < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_use += 1
                waiter.set_result(None)


class Breaker:
    """Whether an endpoint is worth calling, and why not once it is down."""

    def __init__(self, name: str) -> None:
        self.name = name
        #: The cause, in full, once the endpoint is down (for the run's summary).
        self.down_reason: str | None = None
        self._faults = 0
        self._first_fault = 0.0
        self._inflight: set[asyncio.Task[object]] = set()
        self._cut: set[asyncio.Task[object]] = set()

    def check(self) -> None:
        if self.down_reason is not None:
            raise EndpointDown(self._short())

    def succeeded(self) -> None:
        self._faults = 0

    def failed(self, exc: CallError) -> None:
        if exc.fatal:
            self.mark_down(str(exc))
            return
        if not exc.endpoint_fault:
            self._faults = 0  # the endpoint answered: it is up, whatever it said
            return
        now = time.monotonic()
        if self._faults == 0:
            self._first_fault = now
        self._faults += 1
        if self._faults >= TRIP_FAULTS and (
            now - self._first_fault >= TRIP_SPAN_S or "timed out" in str(exc)
        ):
            self.mark_down(f"{self._faults} calls in a row failed, the last with: {exc}")

    def mark_down(self, reason: str) -> None:
        """Down for the rest of the run: calls in flight end now, later ones never start."""
        if self.down_reason is not None:
            return
        self.down_reason = reason
        for task in list(self._inflight):
            self._cut.add(task)
            task.cancel()

    async def guard(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable``, ending with `EndpointDown` if the endpoint goes down first."""
        task = asyncio.current_task()
        assert task is not None
        self._inflight.add(task)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if task not in self._cut:
                raise  # somebody else's cancellation (Ctrl-C, shutdown): not ours to eat
            self._cut.discard(task)
            task.uncancel()
            raise EndpointDown(self._short()) from None
        finally:
            self._inflight.discard(task)

    def _short(self) -> str:
        first = (self.down_reason or "").splitlines()[0] if self.down_reason else ""
        return f"not run: {self.name} is down ({first})"


def retry_delay(attempt: int, exc: CallError) -> float:
    """Seconds before retry ``attempt`` (0-based): the server's wait or our backoff, times
    a random factor in [1, 1.5) so that calls refused together come back spread out."""
    base = exc.retry_after
    if base is None:
        base = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2**attempt)
    return float(base) * (1 + random.random() / 2)


async def call_with_retries(
    ask: Callable[[], Awaitable[T]],
    *,
    limit: AdaptiveLimit,
    breaker: Breaker,
    max_retries: int,
    on_attempt: Callable[[], None],
) -> T:
    """One call with our retry policy: every attempt goes through the endpoint's limit and
    breaker, so 429s slow the endpoint down and faults can mark it down."""
    attempt = throttled = 0
    while True:
        breaker.check()
        async with limit:
            breaker.check()
            on_attempt()
            try:
                result = await breaker.guard(ask())
            except EndpointDown:
                raise
            except CallError as exc:
                breaker.failed(exc)
                if exc.throttled:
                    limit.throttled()
                    throttled += 1
                # earlier failures of the same kind: every earlier attempt failed
                used = throttled - 1 if exc.throttled else attempt - throttled
                budget = max(max_retries, THROTTLED_RETRIES) if exc.throttled else max_retries
                if not exc.transient or used >= budget:
                    raise
                delay = retry_delay(used, exc)
            else:
                breaker.succeeded()
                limit.succeeded()
                return result
        attempt += 1
        await breaker.guard(asyncio.sleep(delay))
