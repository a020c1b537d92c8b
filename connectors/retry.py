"""The one retry policy of the hub (DESIGN §3.5): HTTP, OData, SMTP and the SAP posting all retry here.

What is retried: only a :class:`~connectors.errors.RetryableError`, which an attempt raises for a failure
its connector classified as transient (timeout, connection refused or lost, 429, 5xx, SMTP 4xx, a vendor's
"busy" code). Waits are capped exponential backoff with full jitter, uniform(0, min(cap, base·2^(n-1))),
and a server's ``Retry-After`` replaces the computed wait; the retries stop after ``max_attempts`` tries,
or at once on a ``Retry-After`` longer than ``max_retry_after``, and the last failure becomes a
:class:`~connectors.errors.TransientError` carrying the attempts, status and code. Each wait is logged
(WARNING) with the system, what was tried and the attempt number.

What is not: a :class:`~connectors.errors.PermanentError` (refusals) leaves at the first attempt, and so
does every other exception: a ``TypeError`` or ``AttributeError`` is a bug in our code, never retried and
never turned into a refusal.

Three ways in:

* :func:`call_with_retries` for one call (the HTTP, OData and SMTP clients);
* :func:`retrying` for a block: ``for attempt in retrying(policy, system=…, what=…): with attempt: …``;
* :func:`retry_pending` for a step whose results are per item (the SAP posting): run the step on every
  item, then again on those whose result is still transient, with the same waits and attempt limit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_random_exponential

from connectors.errors import RetryableError, TransientError
from connectors.redaction import redact

log = logging.getLogger(__name__)

T = TypeVar("T")
Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry transient failures.

    ``max_attempts`` counts every try, the first included. Waits are full-jitter exponential:
    uniform(0, min(cap, base * 2**(attempt-1))). A ``Retry-After`` sent by the server replaces the
    computed wait; one longer than ``max_retry_after`` ends the retries at once (TransientError) so a
    worker slot is not held for minutes: the task retry comes back later instead.
    """

    max_attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base < 0 or self.cap < 0 or self.max_retry_after < 0:
            raise ValueError("backoff times must not be negative")


def _failure(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome else None


class backoff(wait_base):  # noqa: N801 - named like tenacity's waits
    """Full-jitter capped exponential backoff; a ``RetryableError.retry_after`` replaces it."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._jitter = wait_random_exponential(multiplier=policy.base, max=policy.cap)

    def __call__(self, retry_state: RetryCallState) -> float:
        failure = _failure(retry_state)
        if isinstance(failure, RetryableError) and failure.retry_after is not None:
            return failure.retry_after
        return self._jitter(retry_state)


class retry_after_too_long(stop_base):  # noqa: N801 - named like tenacity's stops
    """Stop when the server asks for a wait longer than the policy allows: come back in a later run."""

    def __init__(self, limit: float) -> None:
        self._limit = limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        failure = _failure(retry_state)
        return (
            isinstance(failure, RetryableError)
            and failure.retry_after is not None
            and failure.retry_after > self._limit
        )


def retrying(
    policy: RetryPolicy,
    *,
    system: str,
    what: str = "call",
    sleep: Callable[[float], None] = time.sleep,
) -> Retrying:
    """A tenacity ``Retrying`` for ``policy``: retries only :class:`RetryableError`, stops after
    ``policy.max_attempts`` tries or on an over-long ``Retry-After``, logs each wait naming ``system``,
    ``what`` and the attempt. When the tries run out it raises tenacity's ``RetryError``: turn it into a
    :class:`TransientError` with :func:`transient_error` (or use :func:`call_with_retries`). Any other
    exception leaves at once, unchanged."""

    def before_sleep(state: RetryCallState) -> None:
        failure = _failure(state)
        reason = failure.reason if isinstance(failure, RetryableError) else repr(failure)
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s",
            redact(
                f"{system} {what}: attempt {state.attempt_number}/{policy.max_attempts} failed ({reason}); "
                f"retrying in {wait:.2f}s"
            ),
        )

    return Retrying(
        stop=stop_after_attempt(policy.max_attempts) | retry_after_too_long(policy.max_retry_after),
        wait=backoff(policy),
        retry=retry_if_exception_type(RetryableError),
        before_sleep=before_sleep,
        sleep=sleep,
    )


def transient_error(exc: RetryError, *, system: str, what: str = "call") -> TransientError:
    """The :class:`TransientError` for retries that ran out; raise it ``from exc.last_attempt.exception()``
    (as :func:`call_with_retries` does) so that ``__cause__`` is the last :class:`RetryableError`."""
    failure = exc.last_attempt.exception()
    if not isinstance(failure, RetryableError):  # only RetryableError is retried, so only it can run out
        raise TypeError(f"retries ended on {failure!r}, not on a RetryableError") from failure
    attempts = exc.last_attempt.attempt_number
    return TransientError(
        system,
        f"{what} failed after {attempts} attempt(s): {failure.reason}",
        status=failure.status,
        attempts=attempts,
        code=failure.code,
    )


def call_with_retries(
    policy: RetryPolicy,
    fn: Callable[[], T],
    *,
    system: str,
    what: str = "call",
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``fn()``, tried again per ``policy`` while it raises :class:`RetryableError`; then
    :class:`TransientError` (``attempts``, ``status``, ``code`` of the last try, ``__cause__`` the last
    ``RetryableError``). Every other exception propagates from the attempt that raised it."""
    try:
        return retrying(policy, system=system, what=what, sleep=sleep)(fn)
    except RetryError as exc:
        raise transient_error(exc, system=system, what=what) from exc.last_attempt.exception()


class _StillPending(RetryableError):
    """Some items of a step failed transiently: another attempt for them."""


def retry_pending(
    policy: RetryPolicy,
    items: Sequence[Item],
    step: Callable[[list[Item]], Sequence[Result]],
    *,
    is_transient: Callable[[Result], bool],
    system: str,
    what: str = "step",
    sleep: Callable[[float], None] = time.sleep,
) -> list[Result]:
    """Per item, the result of ``step`` after at most ``policy.max_attempts`` attempts.

    ``step(batch)`` gets the items still to do and returns one result per item, in order. The first
    attempt gets every item; each later one, after the policy's wait, only those whose last result
    ``is_transient``. Returns the last result of each item, in the order of ``items``: those still
    transient after the last attempt are returned as they are, for the caller to leave for the next run.
    An exception raised by ``step`` itself propagates (a :class:`RetryableError` is retried like a
    transient result, and becomes :class:`TransientError` when the attempts run out); so a programming
    error fails at once, and a result the caller must not pass over (an ``AuthError``) can be raised
    from inside ``step``.
    """
    if not items:
        return []
    results: list[Result | None] = [None] * len(items)
    todo = list(range(len(items)))
    try:
        for attempt in retrying(policy, system=system, what=what, sleep=sleep):
            with attempt:
                answers = step([items[i] for i in todo])
                if len(answers) != len(todo):
                    raise ValueError(f"{what}: {len(answers)} results for {len(todo)} items")
                for i, answer in zip(todo, answers, strict=True):
                    results[i] = answer
                todo = [i for i, answer in zip(todo, answers, strict=True) if is_transient(answer)]
                if todo:
                    raise _StillPending(f"{len(todo)} of {len(items)} item(s) failed transiently")
    except RetryError as exc:
        if not isinstance(exc.last_attempt.exception(), _StillPending):
            raise transient_error(exc, system=system, what=what) from exc.last_attempt.exception()
    return results  # type: ignore[return-value] - the first attempt fills every slot
