"""The one retry policy (connectors/retry.py): what is retried, how long it waits, what it raises, what it logs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import http
from connectors.errors import BusinessError, PermanentError, RetryableError, TransientError
from connectors.retry import RetryPolicy, call_with_retries, retry_pending, retrying

FAST = RetryPolicy(max_attempts=4, base=0.01, cap=0.05)


def failing(times: int, error: Callable[[int], BaseException], result: Any = "ok") -> Callable[[], Any]:
    """A callable that raises ``error(n)`` on its first ``times`` calls, then returns ``result``."""
    calls: list[int] = []

    def fn() -> Any:
        calls.append(len(calls) + 1)
        if len(calls) <= times:
            raise error(len(calls))
        return result

    fn.calls = calls  # type: ignore[attr-defined]
    return fn


def test_the_policy_is_the_one_connectors_http_exports() -> None:
    assert http.RetryPolicy is RetryPolicy


def test_retryable_errors_are_retried_until_success() -> None:
    sleeps: list[float] = []
    fn = failing(2, lambda n: RetryableError(f"busy {n}", status=503))
    assert call_with_retries(FAST, fn, system="t", sleep=sleeps.append) == "ok"
    assert fn.calls == [1, 2, 3] and len(sleeps) == 2  # type: ignore[attr-defined]


def test_running_out_raises_transient_error_with_attempts_status_code_and_cause() -> None:
    fn = failing(99, lambda n: RetryableError(f"HTTP 503 #{n}", status=503, code="HTTP_503"))
    with pytest.raises(TransientError) as caught:
        call_with_retries(FAST, fn, system="sys", what="GET /x", sleep=lambda _s: None)
    error = caught.value
    assert (error.system, error.attempts, error.status, error.code) == ("sys", 4, 503, "HTTP_503")
    assert "GET /x failed after 4 attempt(s): HTTP 503 #4" in str(error)
    assert isinstance(error.__cause__, RetryableError) and error.__cause__.reason == "HTTP 503 #4"
    assert fn.calls == [1, 2, 3, 4]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "error",
    [
        PermanentError("t", "HTTP 404"),
        BusinessError("t", "refused", code="X"),
        TransientError("t", "outcome unknown"),  # a write that may have been applied: the caller decides
        AttributeError("'NoneType' object has no attribute 'get'"),
        TypeError("unsupported operand"),
        KeyError("SalesOrder"),
        ValueError("a bug or a refusal the caller classifies"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_anything_but_a_retryable_error_leaves_at_the_first_attempt_unchanged(error: BaseException) -> None:
    fn = failing(99, lambda _n: error)
    sleeps: list[float] = []
    with pytest.raises(type(error)) as caught:
        call_with_retries(FAST, fn, system="t", sleep=sleeps.append)
    assert caught.value is error
    assert fn.calls == [1] and sleeps == []  # type: ignore[attr-defined]


def test_retry_after_replaces_the_backoff() -> None:
    sleeps: list[float] = []
    fn = failing(2, lambda n: RetryableError("throttled", status=429, retry_after=7.0 if n == 1 else None))
    call_with_retries(FAST, fn, system="t", sleep=sleeps.append)
    assert sleeps[0] == 7.0 and 0 <= sleeps[1] <= FAST.base * 2


def test_a_retry_after_longer_than_allowed_stops_at_once() -> None:
    policy = RetryPolicy(max_attempts=5, base=0.01, cap=0.05, max_retry_after=60)
    fn = failing(99, lambda _n: RetryableError("throttled", status=429, code="429", retry_after=3600))
    with pytest.raises(TransientError) as caught:
        call_with_retries(policy, fn, system="t", sleep=lambda _s: None)
    assert caught.value.attempts == 1 and caught.value.status == 429
    assert fn.calls == [1]  # type: ignore[attr-defined]


@settings(max_examples=30, deadline=None)
@given(
    attempts=st.integers(min_value=1, max_value=10),
    base=st.floats(min_value=0, max_value=5),
    cap=st.floats(min_value=0, max_value=20),
)
def test_backoff_is_capped_full_jitter_and_attempts_are_exact(attempts: int, base: float, cap: float) -> None:
    policy = RetryPolicy(max_attempts=attempts, base=base, cap=cap)
    sleeps: list[float] = []
    fn = failing(99, lambda _n: RetryableError("down"))
    with pytest.raises(TransientError) as caught:
        call_with_retries(policy, fn, system="t", sleep=sleeps.append)
    assert caught.value.attempts == attempts and len(fn.calls) == attempts  # type: ignore[attr-defined]
    assert len(sleeps) == attempts - 1
    for n, wait in enumerate(sleeps, start=1):
        assert 0 <= wait <= min(cap, base * 2 ** (n - 1)) + 1e-9


def test_each_wait_is_logged_with_the_system_what_and_attempt(caplog: pytest.LogCaptureFixture) -> None:
    fn = failing(2, lambda n: RetryableError(f"HTTP 503 access_token=s3cr3t #{n}", status=503))
    with caplog.at_level(logging.INFO, logger="connectors.retry"):
        call_with_retries(FAST, fn, system="sap_s4", what="GET /A_Product", sleep=lambda _s: None)
    records = [r for r in caplog.records if r.name == "connectors.retry"]
    assert [r.levelno for r in records] == [logging.WARNING] * 2
    assert records[0].getMessage().startswith("sap_s4 GET /A_Product: attempt 1/4 failed (HTTP 503")
    assert "attempt 2/4 failed" in records[1].getMessage() and "retrying in" in records[1].getMessage()
    assert "s3cr3t" not in caplog.text


def test_retrying_as_a_block() -> None:
    seen: list[int] = []
    for attempt in retrying(FAST, system="t", what="block", sleep=lambda _s: None):
        with attempt:
            seen.append(attempt.retry_state.attempt_number)
            if len(seen) < 3:
                raise RetryableError("again")
    assert seen == [1, 2, 3]


def test_retrying_as_a_block_lets_a_bug_through_at_once() -> None:
    seen: list[int] = []
    with pytest.raises(AttributeError):
        for attempt in retrying(FAST, system="t", sleep=lambda _s: None):
            with attempt:
                seen.append(1)
                raise AttributeError("oops")
    assert seen == [1]


# ------------------------------------------------------------------------------------------------
# retry_pending: a step whose results are per item (the SAP posting)
# ------------------------------------------------------------------------------------------------


class Step:
    """Answers per item from a script: item -> list of outcomes, one per attempt it is sent in."""

    def __init__(self, script: dict[str, list[str]]) -> None:
        self.script = {k: list(v) for k, v in script.items()}
        self.batches: list[list[str]] = []

    def __call__(self, batch: list[str]) -> list[str]:
        self.batches.append(list(batch))
        return [self.script[item].pop(0) for item in batch]


def transient(result: str) -> bool:
    return result == "transient"


def test_retry_pending_sends_again_only_the_transient_items() -> None:
    step = Step({"a": ["ok"], "b": ["transient", "ok"], "c": ["refused"], "d": ["transient", "transient", "ok"]})
    sleeps: list[float] = []
    results = retry_pending(FAST, ["a", "b", "c", "d"], step, is_transient=transient, system="t", sleep=sleeps.append)
    assert results == ["ok", "ok", "refused", "ok"]
    assert step.batches == [["a", "b", "c", "d"], ["b", "d"], ["d"]]
    assert len(sleeps) == 2 and all(0 <= s <= FAST.cap for s in sleeps)


def test_retry_pending_returns_the_items_still_transient_after_max_attempts() -> None:
    step = Step({"a": ["ok"], "b": ["transient"] * 10})
    results = retry_pending(FAST, ["a", "b"], step, is_transient=transient, system="t", sleep=lambda _s: None)
    assert results == ["ok", "transient"]
    assert step.batches == [["a", "b"]] + [["b"]] * (FAST.max_attempts - 1)


def test_retry_pending_logs_through_the_one_policy(caplog: pytest.LogCaptureFixture) -> None:
    step = Step({"a": ["transient", "ok"], "b": ["ok"]})
    with caplog.at_level(logging.INFO, logger="connectors.retry"):
        retry_pending(FAST, ["a", "b"], step, is_transient=transient, system="sap_s4", what="SAP posting")
    [record] = [r for r in caplog.records if r.name == "connectors.retry"]
    assert "sap_s4 SAP posting: attempt 1/4 failed (1 of 2 item(s) failed transiently)" in record.getMessage()


def test_retry_pending_lets_an_exception_of_the_step_through_at_once() -> None:
    batches: list[list[str]] = []

    def step(batch: list[str]) -> list[str]:
        batches.append(batch)
        if len(batches) == 2:
            raise AttributeError("bug in the second attempt")
        return ["transient" for _ in batch]

    with pytest.raises(AttributeError):
        retry_pending(FAST, ["a"], step, is_transient=transient, system="t", sleep=lambda _s: None)
    assert len(batches) == 2


def test_retry_pending_raises_what_the_step_raises_for_the_caller() -> None:
    class Stop(Exception):
        pass

    def step(batch: list[str]) -> list[str]:  # e.g. the posting re-raises an AuthError found among the results
        raise Stop()

    with pytest.raises(Stop):
        retry_pending(FAST, ["a"], step, is_transient=transient, system="t", sleep=lambda _s: None)


def test_retry_pending_a_step_that_keeps_raising_retryable_becomes_transient_error() -> None:
    calls: list[int] = []

    def step(batch: list[str]) -> list[str]:
        calls.append(1)
        raise RetryableError("whole step down", status=503, code="HTTP_503")

    with pytest.raises(TransientError) as caught:
        retry_pending(FAST, ["a"], step, is_transient=transient, system="t", sleep=lambda _s: None)
    assert caught.value.attempts == FAST.max_attempts == len(calls)


def test_retry_pending_with_nothing_to_do() -> None:
    def step(batch: list[str]) -> list[str]:
        raise AssertionError("not called")

    assert retry_pending(FAST, [], step, is_transient=transient, system="t") == []


def test_retry_pending_refuses_a_step_that_loses_items() -> None:
    with pytest.raises(ValueError, match="1 results for 2 items"):
        retry_pending(FAST, ["a", "b"], lambda batch: ["ok"], is_transient=transient, system="t")
