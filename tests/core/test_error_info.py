"""ErrorInfo: an exception as picklable data, rebuilt on demand, judged by the retry policy."""

import pickle

from delegate import RetryPolicy
from delegate.errors import (
    ErrorInfo,
    ModelServerError,
    OutputValidationError,
    PlanError,
    RateLimitError,
    RunError,
    TaskTimeout,
    UsageError,
    describe,
)


class ShopError(ValueError):
    """An application's own error, rebuilt only when the caller names it."""


def test_of_keeps_type_message_transience_status_and_retry_after():
    info = ErrorInfo.of(RateLimitError("slow\n down", retry_after=2, status=429))
    assert info == ErrorInfo("RateLimitError", "slow down", True, 429, 2.0)
    assert info.describe() == describe(RateLimitError("slow down")) == "RateLimitError: slow down"
    empty = ValueError()
    assert ErrorInfo.of(empty).describe() == describe(empty) == "ValueError: ValueError"
    assert ErrorInfo.of(TaskTimeout("t", 1)).transient
    assert not ErrorInfo.of(KeyError("k")).transient
    assert pickle.loads(pickle.dumps(info)) == info


def test_exception_rebuilds_delegate_errors_with_their_fields():
    rebuilt = ErrorInfo.of(ModelServerError("down", status=503, retry_after=4)).exception()
    assert type(rebuilt) is ModelServerError and str(rebuilt) == "down"
    assert (rebuilt.status, rebuilt.retry_after, rebuilt.provider) == (503, 4.0, "")
    plan = ErrorInfo.of(PlanError(["a", "b"])).exception()
    assert isinstance(plan, UsageError) and str(plan) == "invalid plan: a; b"
    bad = ErrorInfo.of(OutputValidationError("no json", output="{")).exception()
    assert type(bad) is OutputValidationError and bad.output == "" and bad.usage is None
    timeout = ErrorInfo.of(TaskTimeout("t1", 2.0)).exception()
    assert type(timeout) is TaskTimeout and str(timeout) == "task 't1' timed out after 2s"
    assert pickle.loads(pickle.dumps(rebuilt)).__dict__ == rebuilt.__dict__


def test_exception_takes_an_applications_classes_and_falls_back_to_run_error():
    info = ErrorInfo.of(ShopError("no such product"))
    mine = info.exception(ShopError)
    assert type(mine) is ShopError and str(mine) == "no such product"
    unknown = info.exception()
    assert type(unknown) is RunError and str(unknown) == "ShopError: no such product"


def test_the_retry_policy_decides_from_an_error_info_as_from_the_exception():
    policy = RetryPolicy(max_attempts=3, jitter=0, base_delay=1)
    for error in (RateLimitError("x", retry_after=5), ModelServerError("x"), ValueError("x")):
        info = ErrorInfo.of(error)
        assert policy.should_retry(info, 1) == policy.should_retry(error, 1)
        assert policy.delay(1, info) == policy.delay(1, error)
    assert not policy.should_retry(ErrorInfo.of(RateLimitError("x")), 3)
    too_long = ErrorInfo.of(RateLimitError("x", retry_after=3600))
    assert not policy.should_retry(too_long, 1)
    # a custom predicate is given the rebuilt exception
    only_server = RetryPolicy(retry_on=lambda e: isinstance(e, ModelServerError))
    assert only_server.should_retry(ErrorInfo.of(ModelServerError("x")), 1)
    assert not only_server.should_retry(ErrorInfo.of(RateLimitError("x")), 1)
