"""Rate limits on virtual time: the event loop's clock jumps to the next timer whenever every
task is blocked, so nothing really sleeps and every admission time is exact. Two checkers
judge an admission log independently of the limiter: no 60-second window over the limit, and
no admission later than the earliest instant it fitted (FIFO order granted)."""

import asyncio
import random
import selectors

import pytest

import delegate
from delegate import Plan, RetryPolicy, Task, UsageError, Worker
from delegate.core.retry import call_with_retry
from delegate.errors import RateLimitError
from delegate.limits.ratelimit import (
    DEFAULT_COMPLETION_RESERVE,
    Limiters,
    RateLimit,
    RateLimitedModel,
    RateLimiter,
    parse_rate_limits,
)
from delegate.llm import Message, Model, ModelSettings, Scripted, ScriptedModel

WINDOW = 60.0


class _VirtualSelector:
    """The loop's selector, except that waiting ``timeout`` seconds advances virtual time."""

    def __init__(self, selector: selectors.BaseSelector, loop: "VirtualTimeLoop") -> None:
        self._selector, self._loop = selector, loop

    def select(self, timeout=None):
        events = self._selector.select(0)
        if events or timeout == 0:
            return events
        if timeout is None:  # no timer at all: only another thread could wake the loop
            events = self._selector.select(5)
            if not events:
                raise RuntimeError("deadlock: every task waits and no timer is set")
            return events
        self._loop.virtual_now += timeout
        return []

    def __getattr__(self, name):
        return getattr(self._selector, name)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        super().__init__()
        self.virtual_now = 0.0
        self._selector = _VirtualSelector(self._selector, self)

    def time(self) -> float:
        return self.virtual_now


def vrun(coro):
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(coro)


def now() -> float:
    return asyncio.get_running_loop().time()


def rate_limited(model, limits):
    """``model`` under ``limits``, with limiters of its own (as a fresh runtime has)."""
    return Limiters(limits).wrap(model)


def window_violations(admissions, limit):
    """``(start, total)`` of every window ``[start, start + 60)`` holding more than ``limit``;
    admissions are ``(time, amount)``. The worst window starts at an admission."""
    return [(t0, total) for t0, _ in admissions
            if (total := sum(a for t, a in admissions if t0 <= t < t0 + WINDOW)) > limit]


def idle_admissions(log, limit):
    """Admissions (``(arrival, time, amount)`` in FIFO order) made later than the earliest
    instant they fitted: after their arrival and their predecessor's admission, just before
    ``time`` the window (entries with ``t + 60 > time - eps``) already had room."""
    idle = []
    for i, (arrival, t, amount) in enumerate(log):
        earliest = max(arrival, log[i - 1][1] if i else arrival)
        held = sum(a for _, tj, a in log[:i] if tj + WINDOW >= t)
        if t > earliest and held + amount <= limit:
            idle.append((i, t))
    return idle


async def caller(limiter, log, queued, i, arrival, amount):
    await asyncio.sleep(arrival)
    queued.append(i)  # acquire enqueues before it first suspends: this is the FIFO order
    reservation = await limiter.acquire(amount)
    assert reservation.admitted_at == now()
    log.append((i, arrival, now(), amount))


# --- the checkers can fail -------------------------------------------------------------------


def test_checkers_flag_an_over_admitting_or_idle_log():
    # a token bucket (burst 1000, refilling 1000/min) admits 1000 at 0 and 500 more at 30
    assert window_violations([(0.0, 1000), (30.0, 500)], 1000) == [(0.0, 1500)]
    assert window_violations([(0.0, 1000), (60.0, 1000)], 1000) == []
    # 500 fitted at 60 (the first entry left the window) but was admitted at 61
    assert idle_admissions([(0.0, 0.0, 1000), (10.0, 61.0, 500)], 1000) == [(1, 61.0)]
    assert idle_admissions([(0.0, 0.0, 1000), (10.0, 60.0, 500)], 1000) == []
    # admitted late while the window had room at once
    assert idle_admissions([(0.0, 0.0, 100), (10.0, 11.0, 500)], 1000) == [(1, 11.0)]


# --- tokens per minute -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_tokens_per_minute_never_exceeded_in_any_window_and_never_idle(seed):
    rng = random.Random(seed)
    limit = 2000
    callers = [(rng.randrange(0, 300), rng.randint(1, limit)) for _ in range(40)]
    limiter = RateLimiter(RateLimit(tokens_per_minute=limit))
    log, queued = [], []

    async def main():
        await asyncio.gather(*(caller(limiter, log, queued, i, arrival, amount)
                               for i, (arrival, amount) in enumerate(callers)))

    vrun(main())
    assert [i for i, *_ in log] == queued  # first come, first served
    assert window_violations([(t, a) for _, _, t, a in log], limit) == []
    assert idle_admissions([(arr, t, a) for _, arr, t, a in log], limit) == []
    assert sum(t > arr for _, arr, t, _ in log) >= 10  # the limit really held callers back


def test_a_caller_that_fits_is_admitted_at_once_and_a_waiter_exactly_when_room_frees():
    limiter = RateLimiter(RateLimit(tokens_per_minute=1000))
    times = {}

    async def take(name, at, tokens):
        await asyncio.sleep(at)
        await limiter.acquire(tokens)
        times[name] = now()

    async def main():
        await asyncio.gather(take("a", 0, 300), take("b", 5, 300), take("c", 10, 300),
                             take("d", 20, 200), take("e", 30, 400))

    vrun(main())
    # d needs 100 freed: a leaves at 60; e, behind d, needs 200 more: b leaves at 65
    assert times == {"a": 0, "b": 5, "c": 10, "d": 60, "e": 65}


def test_waiters_are_served_in_order_so_a_large_request_is_not_starved():
    limiter = RateLimiter(RateLimit(tokens_per_minute=1000))
    times = {}

    async def take(name, at, tokens):
        await asyncio.sleep(at)
        await limiter.acquire(tokens)
        times[name] = now()

    async def main():
        await asyncio.gather(take("a", 0, 900), take("big", 1, 800),
                             *(take(f"s{i}", 2 + i, 50) for i in range(3)))

    vrun(main())
    assert times["big"] == 60  # the small ones would fit at once, yet queue behind it
    assert [times[f"s{i}"] for i in range(3)] == [60, 60, 60]


def test_settling_refunds_the_unused_part_at_once_and_charges_extra_for_a_full_window():
    limiter = RateLimiter(RateLimit(tokens_per_minute=1000))
    times = {}

    async def main():
        first = await limiter.acquire(800)

        async def late(name, tokens):
            await limiter.acquire(tokens)
            times[name] = now()

        waiter = asyncio.create_task(late("refunded", 500))
        await asyncio.sleep(10)
        assert limiter.waiting == 1
        first.settle(300)  # 300 + 500 fit now
        await waiter
        assert limiter.in_window() == (2, 800)
        with pytest.raises(RuntimeError, match="already settled"):
            first.settle(0)

        await asyncio.sleep(WINDOW)  # t = 70: both entries gone
        over = await limiter.acquire(200)
        await asyncio.sleep(10)
        over.settle(700)  # 500 more than reserved, charged at t = 80
        assert limiter.in_window() == (1, 700)
        await late("after-extra", 700)  # needs 400 freed: the 200 at 130 and the 500 at 140

    vrun(main())
    assert times == {"refunded": 10, "after-extra": 140}


def test_a_request_larger_than_the_whole_minute_fails_at_once():
    limiter = RateLimiter(RateLimit(tokens_per_minute=1000), "openai:gpt-4o-mini")
    with pytest.raises(UsageError, match=r"1,001 tokens can never fit .* openai:gpt-4o-mini"):
        vrun(limiter.acquire(1001))


def test_a_cancelled_waiter_leaves_the_queue_and_the_next_is_served():
    limiter = RateLimiter(RateLimit(tokens_per_minute=1000))

    async def main():
        await limiter.acquire(600)
        big = asyncio.create_task(limiter.acquire(900))
        small = asyncio.create_task(limiter.acquire(300))
        await asyncio.sleep(5)
        assert limiter.waiting == 2
        big.cancel()
        reservation = await small
        return reservation.admitted_at, limiter.waiting

    assert vrun(main()) == (5, 0)


# --- requests per minute and pauses ----------------------------------------------------------


def test_requests_per_minute():
    limiter = RateLimiter(RateLimit(requests_per_minute=3))
    log, queued = [], []

    async def main():
        await asyncio.gather(*(caller(limiter, log, queued, i, i * 7, 0) for i in range(8)))

    vrun(main())
    times = [t for _, _, t, _ in log]
    assert times == [0, 7, 14, 60, 67, 74, 120, 127]
    assert window_violations([(t, 1) for t in times], 3) == []
    assert idle_admissions([(arr, t, 1) for _, arr, t, _ in log], 3) == []


def test_pause_holds_every_caller_and_is_never_shortened():
    limiter = RateLimiter(RateLimit(requests_per_minute=100))

    async def main():
        await asyncio.sleep(10)
        limiter.pause(30)
        limiter.pause(5)
        first = await limiter.acquire(1)
        limiter.pause(20)
        second = await limiter.acquire(1)
        return first.admitted_at, second.admitted_at

    assert vrun(main()) == (40, 60)


# --- the model wrapper -----------------------------------------------------------------------


class CountingModel(ScriptedModel):
    """A scripted model that can count tokens the way it reports them: whitespace words."""

    def count_tokens(self, text: str) -> int:
        return len(text.split())


class UncountedModel(ScriptedModel):
    """A scripted model with no tokenizer: the wrapper has to estimate."""

    count_tokens = Model.count_tokens


def test_the_wrapper_reserves_prompt_plus_max_tokens_then_settles_to_usage():
    seen = []

    async def main():
        limiter = RateLimiter(RateLimit(tokens_per_minute=10_000))

        def step(call):
            seen.append(limiter.in_window())
            return Scripted("ok", prompt_tokens=2, completion_tokens=5)

        counting = RateLimitedModel(CountingModel(function=step), limiter)
        await counting.request([Message.system("be brief"), Message.user("one two three")],
                               settings=ModelSettings(max_tokens=40))
        after_counted = limiter.in_window()
        guessing = RateLimitedModel(UncountedModel(function=step), limiter)
        await guessing.request([Message.user("abcdefghi")])  # 9 characters: 3 tokens
        return after_counted, limiter.in_window()

    after_counted, after_both = vrun(main())
    assert seen == [(1, 5 + 40), (2, 7 + 3 + DEFAULT_COMPLETION_RESERVE)]
    assert (after_counted, after_both) == ((1, 7), (2, 14))


def test_a_prompt_that_can_never_fit_is_refused_before_the_call():
    model = CountingModel(["never"])
    limited = RateLimitedModel(model, RateLimiter(RateLimit(tokens_per_minute=100)))
    with pytest.raises(UsageError, match="can never fit"):
        vrun(limited.request([Message.user("word " * 90)], settings=ModelSettings(max_tokens=20)))
    assert model.calls == []


def test_a_429_pauses_every_caller_for_retry_after_and_the_call_is_retried():
    starts = []

    async def step(call):
        starts.append((call.last_user, now()))
        if len(starts) == 1:
            raise RateLimitError("429", retry_after=30, provider="scripted")
        await asyncio.sleep(1)
        return "ok"

    limits = {"scripted": RateLimit(requests_per_minute=1000)}
    model = rate_limited(ScriptedModel(function=step), limits)
    policy = RetryPolicy(max_attempts=3, base_delay=0, jitter=0)

    async def ask(name, at):
        await asyncio.sleep(at)
        return await call_with_retry(lambda: model.request([Message.user(name)]), policy)

    async def main():
        return await asyncio.gather(ask("a", 0), ask("b", 5), ask("c", 10))

    answers = vrun(main())
    assert [r.text for r in answers] == ["ok", "ok", "ok"]
    assert starts[0] == ("a", 0)
    assert sorted(starts[1:]) == [("a", 30), ("b", 30), ("c", 30)]


# --- shared by the workers of a run ----------------------------------------------------------


def test_workers_of_a_run_share_one_window_and_a_429_is_retried_by_the_scheduler():
    limit = 600
    calls = []  # (time, worker, tokens reserved == tokens used)

    def model_for(worker_name):
        async def step(call):
            tokens = sum(len(m.content.split()) for m in call.messages)
            tokens += call.settings.max_tokens
            calls.append((now(), worker_name, tokens))
            if len(calls) == 2:
                raise RateLimitError("429", retry_after=45, provider="scripted")
            await asyncio.sleep(10)
            return Scripted("done", completion_tokens=call.settings.max_tokens)

        return limiters.wrap(CountingModel(function=step, name="m"))

    limiters = Limiters({"scripted": RateLimit(tokens_per_minute=limit)})
    one, two = model_for("one"), model_for("two")
    assert one.limiter is two.limiter
    plan = Plan(tasks=tuple(Task(id=f"t{i}", worker="one" if i % 2 else "two",
                                 instruction=f"part {i}") for i in range(8)))
    workers = [Worker("one", "first", model=one, max_tokens=200),
               Worker("two", "second", model=two, max_tokens=200)]

    result = vrun(delegate.run("write the parts", workers=workers, plan=plan, model=one,
                               synthesize=False, max_concurrency=8,
                               retry=RetryPolicy(max_attempts=3, base_delay=0, jitter=0)))

    assert result.status == "succeeded"
    assert {w for _, w, _ in calls} == {"one", "two"}
    assert len(calls) == 9  # eight tasks and one retry after the 429
    assert window_violations([(t, n) for t, _, n in calls], limit) == []
    assert all(t >= calls[1][0] + 45 for t, _, _ in calls[2:])  # the pause held everyone
    assert sum(n for *_, n in calls) > 3 * limit  # so the run needed four windows at least
    assert calls[-1][0] >= 3 * WINDOW


# --- configuration ---------------------------------------------------------------------------


def test_parse_rate_limits():
    assert parse_rate_limits(" openai:gpt-4o-mini = 500rpm/200_000 TPM , Groq=30rpm ") == {
        "openai:gpt-4o-mini": RateLimit(500, 200_000),
        "groq": RateLimit(requests_per_minute=30),
    }
    assert parse_rate_limits("openrouter:meta/llama-3=10tpm") == {
        "openrouter:meta/llama-3": RateLimit(tokens_per_minute=10)}
    assert parse_rate_limits("  ") == {}


@pytest.mark.parametrize(("spec", "message"), [
    ("openai", "needs PROVIDER"),
    ("=5rpm", "needs PROVIDER"),
    ("openai:=5rpm", "needs PROVIDER"),
    ("open ai=5rpm", "needs PROVIDER"),
    ("openai=", "is not <number>rpm"),
    ("openai=5rps", "is not <number>rpm"),
    ("openai=-5rpm", "is not <number>rpm"),
    ("openai=5rpm//6tpm", "is not <number>rpm"),
    ("openai=0rpm", "must be from 1"),
    ("openai=99999999999tpm", "must be from 1"),
    ("openai=5rpm/6rpm", "give rpm twice"),
    ("a=1rpm,A=2rpm", "give 'a' twice"),
    ("a=1rpm,,b=2rpm", "empty entry"),
])
def test_parse_errors_are_one_clear_line(spec, message):
    with pytest.raises(UsageError, match=message) as caught:
        parse_rate_limits(spec)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("kwargs", [{}, {"requests_per_minute": 0},
                                    {"tokens_per_minute": -1}, {"tokens_per_minute": True},
                                    {"requests_per_minute": 1.5}])
def test_rate_limit_is_validated(kwargs):
    with pytest.raises(UsageError):
        RateLimit(**kwargs)


def test_limiters_pick_the_most_specific_key_and_share_a_limiter_per_key():
    limits = parse_rate_limits("scripted:a=5rpm,scripted=7rpm")
    limiters = Limiters(limits)
    a, b, other = ScriptedModel(name="a"), ScriptedModel(name="b"), ScriptedModel()
    other.provider = "elsewhere"
    wrapped_a, wrapped_b = limiters.wrap(a), limiters.wrap(b)
    assert wrapped_a.limiter.limit == RateLimit(5) and wrapped_a.wrapped is a
    assert wrapped_b.limiter.limit == RateLimit(7)
    assert limiters.wrap(ScriptedModel(name="c")).limiter is wrapped_b.limiter
    assert limiters.wrap(wrapped_a) is wrapped_a
    assert limiters.wrap(other) is other
    assert limiters.limiter("scripted", RateLimit(7)) is wrapped_b.limiter
    assert limiters.limiter("scripted", RateLimit(8)) is not wrapped_b.limiter  # a new limit
    assert Limiters(limits).wrap(b).limiter is not wrapped_b.limiter  # nothing process-wide
