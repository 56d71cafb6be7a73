import pickle

import pytest

from delegate import PlanError, RetryPolicy
from delegate.errors import (
    ModelRequestError,
    ModelServerError,
    OutputValidationError,
    RateLimitError,
    TaskTimeout,
    is_transient,
)


@pytest.mark.parametrize("error", [
    PlanError(["a", "b"]),
    RateLimitError("slow", retry_after=3.5, provider="openai", model="m", status=429),
    OutputValidationError("bad", output="{", provider="local"),
    TaskTimeout("t1", 2.0),
])
def test_errors_pickle_with_their_fields(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error)
    assert copy.__dict__ == error.__dict__


def test_transient_classification():
    assert is_transient(RateLimitError("x"))
    assert is_transient(ModelServerError("x", status=503))
    assert is_transient(TaskTimeout("t", 1))
    assert not is_transient(ModelRequestError("x", status=400))
    assert not is_transient(ValueError("x"))


def test_backoff_grows_caps_and_honours_retry_after():
    policy = RetryPolicy(base_delay=1, max_delay=5, jitter=0)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]
    assert policy.delay(1, RateLimitError("x", retry_after=30)) == 30


def test_jitter_stays_within_bounds_and_varies():
    policy = RetryPolicy(base_delay=2, jitter=0.5)
    delays = {policy.delay(1) for _ in range(50)}
    assert all(1.0 <= d <= 3.0 for d in delays) and len(delays) > 1


def test_should_retry_only_transient_and_within_attempts():
    policy = RetryPolicy(max_attempts=2)
    assert policy.should_retry(RateLimitError("x"), 1)
    assert not policy.should_retry(RateLimitError("x"), 2)
    assert not policy.should_retry(ModelRequestError("x"), 1)
