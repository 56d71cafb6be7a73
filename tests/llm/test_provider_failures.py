"""Provider lifecycles and failures: clients per event loop, answers cut short or empty, and
foreign exceptions, for the OpenAI-compatible, Anthropic and local providers."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from delegate.errors import (
    IncompleteResponseError,
    ModelRequestError,
    OutputValidationError,
    UnexpectedModelError,
    is_transient,
)
from delegate.llm.anthropic import AnthropicModel
from delegate.llm.base import Message
from delegate.llm.guard import allow_model_requests
from delegate.llm.local import LocalModel, default_model_path
from delegate.llm.openai_compat import OpenAICompatModel

from .fakeserver import ASK, City, FakeServer, anthropic_text, openai_chat, request_once

KEY = "sk-test-secret-0123456789"


def openai_model(server: FakeServer) -> OpenAICompatModel:
    return OpenAICompatModel("gpt-test", base_url=server.url + "/v1", api_key=KEY, timeout=5)


def anthropic_model(server: FakeServer) -> AnthropicModel:
    return AnthropicModel("claude-test", base_url=server.url, api_key=KEY, timeout=5)


PROVIDERS = {
    "openai": (openai_model, openai_chat),
    "anthropic": (anthropic_model, anthropic_text),
}


@pytest.fixture(params=sorted(PROVIDERS))
def provider(request):
    """(make a model for a server, make a text answer body) for each HTTP provider."""
    return PROVIDERS[request.param]


def failure(model, messages=ASK, **kw) -> BaseException:
    with pytest.raises(Exception) as info:
        request_once(model, messages, **kw)
    return info.value


# -- one client per event loop ---------------------------------------------------------------

def test_one_model_serves_two_event_loops_on_a_keep_alive_server(provider):
    make, answer = provider
    with FakeServer() as server:
        model = make(server)
        server.push(answer("first")).push(answer("second")).push(answer("third"))
        with allow_model_requests():
            first = asyncio.run(model.request(ASK))
            second = asyncio.run(model.request(ASK))  # a new loop: the old pool is unusable

            async def third_then_close():
                try:
                    return await model.request(ASK)
                finally:
                    await model.aclose()

            third = asyncio.run(third_then_close())
        assert (first.text, second.text, third.text) == ("first", "second", "third")
        assert server.connections == 3  # one client, hence one connection, per loop
        assert len(model._clients) == 0  # no client of a closed loop is kept
        # the first two loops' clients were closed as their loops shut down, the third's by
        # aclose: no connection is left open
        assert server.wait_until_closed()


def test_a_client_is_closed_when_its_loop_shuts_down_without_aclose(provider):
    make, answer = provider
    with FakeServer() as server:
        model = make(server)
        server.push(answer("only"))
        with allow_model_requests():
            asyncio.run(model.request(ASK))
        assert server.connections == 1
        assert server.wait_until_closed()


def test_aclose_closes_the_client_and_its_connection(provider):
    make, answer = provider
    with FakeServer() as server:
        model = make(server)
        server.push(answer("one")).push(answer("two"))

        async def two_requests_then_close():
            await model.request(ASK)
            await model.request(ASK)
            assert server.open_connections == 1  # kept alive between requests
            await model.aclose()

        with allow_model_requests():
            asyncio.run(two_requests_then_close())
        assert server.connections == 1
        assert server.wait_until_closed()


def test_a_model_used_again_after_aclose_makes_a_new_client():
    with FakeServer() as server:
        model = openai_model(server)
        server.push(openai_chat("one")).push(openai_chat("two"))

        async def go():
            await model.request(ASK)
            await model.aclose()
            again = await model.request(ASK)
            await model.aclose()
            return again

        with allow_model_requests():
            assert asyncio.run(go()).text == "two"
        assert server.connections == 2


# -- answers cut short or empty --------------------------------------------------------------

def test_body_shorter_than_its_content_length_is_incomplete(provider):
    make, answer = provider
    with FakeServer() as server:
        server.push(answer("Lisbon"), cut=25)
        error = failure(make(server))
    assert isinstance(error, IncompleteResponseError) and is_transient(error)
    assert "cut off" in error.message and "\n" not in error.message


def test_json_cut_short_is_incomplete(provider):
    make, answer = provider
    cut = json.dumps(answer("Lisbon"))[:40]  # a complete HTTP body holding half a JSON object
    with FakeServer() as server:
        server.push(cut)
        error = failure(make(server))
    assert isinstance(error, IncompleteResponseError) and is_transient(error)
    assert "not complete JSON" in error.message


@pytest.mark.parametrize("content", ["", "  \n\t "])
def test_empty_text_answer_is_incomplete(provider, content):
    make, answer = provider
    with FakeServer() as server:
        server.push(answer(content))
        error = failure(make(server))
    assert isinstance(error, IncompleteResponseError) and is_transient(error)
    assert "empty" in error.message


def test_openai_null_content_is_incomplete():
    body = openai_chat("x")
    body["choices"][0]["message"]["content"] = None
    with FakeServer() as server:
        server.push(body)
        error = failure(openai_model(server))
    assert isinstance(error, IncompleteResponseError)


def test_empty_structured_answer_goes_back_for_repair():
    with FakeServer() as server:
        server.push(openai_chat(""))
        server.push(openai_chat('{"name": "Oslo", "population": 700000}'))
        response = request_once(openai_model(server), ASK, output=City)
    assert response.data.name == "Oslo" and response.usage.model_calls == 2


# -- foreign exceptions ----------------------------------------------------------------------

class Boom(Exception):
    pass


def _raising(exc: BaseException):
    async def create(*args, **kwargs):
        raise exc
    return create


def _patch_create(monkeypatch, model, exc: BaseException) -> None:
    """Make the SDK call of ``model`` raise ``exc``, whatever loop's client is used."""
    made = model._clients._factory

    def factory():
        client = made()
        if isinstance(model, OpenAICompatModel):
            monkeypatch.setattr(client.chat.completions, "create", _raising(exc))
        else:
            monkeypatch.setattr(client.messages, "create", _raising(exc))
        return client

    monkeypatch.setattr(model._clients, "_factory", factory)


@pytest.mark.parametrize("exc", [
    RuntimeError("Event loop is closed"),
    Boom("line one\nline two\n" + "x" * 2000),
    KeyError("choices"),
])
def test_http_providers_wrap_foreign_exceptions(provider, monkeypatch, exc):
    make, _answer = provider
    with FakeServer() as server:
        model = make(server)
        _patch_create(monkeypatch, model, exc)
        error = failure(model)
    assert isinstance(error, UnexpectedModelError) and not is_transient(error)
    assert type(exc).__name__ in error.message
    assert "\n" not in error.message and len(error.message) < 400
    assert error.__cause__ is exc
    assert error.provider in ("openai", "anthropic")


def test_http_providers_never_wrap_cancellation(provider, monkeypatch):
    make, _answer = provider
    with FakeServer() as server:
        model = make(server)
        _patch_create(monkeypatch, model, asyncio.CancelledError())
        with allow_model_requests(), pytest.raises(asyncio.CancelledError):
            asyncio.run(model.request(ASK))


def test_wrapped_messages_keep_the_key_out(monkeypatch):
    with FakeServer() as server:
        model = openai_model(server)
        _patch_create(monkeypatch, model, RuntimeError(f"bad header Bearer {KEY}"))
        error = failure(model)
    assert KEY not in error.message and "***" in error.message


# -- the local provider, with llama.cpp's call replaced --------------------------------------

def local_answer(content: str, finish_reason: str = "stop") -> dict:
    return {
        "choices": [{"message": {"role": "assistant", "content": content},
                     "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3},
    }


def local_model(monkeypatch, behaviour) -> LocalModel:
    model = LocalModel(default_model_path(), name="default", pool_size=1)
    monkeypatch.setattr(model, "_complete", lambda kwargs, cancel: behaviour(kwargs))
    return model


def ask_local(model, **kw):
    return asyncio.run(model.request([Message.user("hi")], **kw))


@pytest.mark.parametrize("exc", [
    RuntimeError("llama_decode returned -3"), OSError("mmap failed"), KeyError("choices"),
])
def test_local_wraps_what_llama_cpp_raises(monkeypatch, exc):
    def fail(kwargs):
        raise exc
    model = local_model(monkeypatch, fail)
    with pytest.raises(UnexpectedModelError) as info:
        ask_local(model)
    assert type(exc).__name__ in info.value.message and info.value.__cause__ is exc
    assert (info.value.provider, info.value.model) == ("local", "default")


def test_local_wraps_an_answer_of_an_unknown_shape(monkeypatch):
    model = local_model(monkeypatch, lambda kwargs: {"choices": []})
    with pytest.raises(UnexpectedModelError, match="IndexError"):
        ask_local(model)


def test_local_context_overflow_is_still_a_request_error(monkeypatch):
    def overflow(kwargs):
        raise ValueError("Requested tokens (900) exceed\ncontext window of 128")
    model = local_model(monkeypatch, overflow)
    with pytest.raises(ModelRequestError) as info:
        ask_local(model)
    assert not isinstance(info.value, UnexpectedModelError) and "\n" not in info.value.message


def test_local_never_wraps_cancellation(monkeypatch):
    started, release = threading.Event(), threading.Event()

    def slow(kwargs):
        started.set()
        release.wait(5)
        return local_answer("late")

    model = local_model(monkeypatch, slow)

    async def cancel_mid_call():
        task = asyncio.create_task(model.request([Message.user("hi")]))
        await asyncio.to_thread(started.wait, 5)
        task.cancel()
        try:
            await task
        finally:
            release.set()

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(cancel_mid_call())


@pytest.mark.parametrize("content", ["", " \n "])
def test_local_empty_text_answer_is_incomplete(monkeypatch, content):
    model = local_model(monkeypatch, lambda kwargs: local_answer(content))
    with pytest.raises(IncompleteResponseError) as info:
        ask_local(model)
    assert is_transient(info.value)


def test_local_structured_answer_cut_at_max_tokens_stays_a_validation_error(monkeypatch):
    model = local_model(monkeypatch, lambda kwargs: local_answer('{"name": "Li', "length"))
    with pytest.raises(OutputValidationError) as info:
        ask_local(model, output=City)
    assert not is_transient(info.value) and "cut off at max_tokens" in info.value.message
