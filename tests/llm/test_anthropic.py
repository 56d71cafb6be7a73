"""AnthropicModel against a scripted server on 127.0.0.1, and create() configuration."""

from __future__ import annotations

import asyncio
import inspect
import pickle
import sys

import pytest

from delegate.errors import (
    ConfigurationError,
    ModelConnectionError,
    ModelRequestError,
    ModelRequestsDisallowed,
    ModelServerError,
    OutputValidationError,
    RateLimitError,
    is_transient,
)
from delegate.llm.anthropic import DEFAULT_MAX_TOKENS, MISSING_EXTRA, AnthropicModel, create
from delegate.llm.base import Message, ModelSettings
from delegate.llm.guard import allow_model_requests

from .fakeserver import (
    ASK,
    City,
    FakeServer,
    anthropic_error,
    anthropic_message,
    anthropic_text,
    anthropic_tool,
    closed_port_url,
    request_once,
)

KEY = "sk-ant-test-secret-0123456789"


def run(server_url: str, messages=ASK, send_sampling=None, **kw):
    """Make one request against ``server_url`` and close the client."""
    model = AnthropicModel("claude-test", base_url=server_url, api_key=KEY, timeout=5,
                           send_sampling=send_sampling)
    return request_once(model, messages, **kw)


def failure(url: str, **kw) -> BaseException:
    with pytest.raises(Exception) as info:
        run(url, **kw)
    return info.value


def test_text_answer_usage_and_request_shape():
    with FakeServer() as server:
        blocks = [{"type": "text", "text": "Lis"}, {"type": "text", "text": "bon"}]
        reply = anthropic_message(blocks, input_tokens=20, output_tokens=4)
        server.push(reply)
        response = run(server.url, settings=ModelSettings(temperature=0.5, seed=3))
    assert response.text == "Lisbon" and response.data is None
    assert response.model == "anthropic:claude-test"
    assert response.usage.as_dict().items() >= {"model_calls": 1, "prompt_tokens": 20,
                                                 "completion_tokens": 4, "cache_hits": 0}.items()
    (sent,) = server.requests
    assert sent.path == "/v1/messages"
    # SDK 0.x sends x-api-key, 2.x a bearer token
    assert KEY in (sent.headers.get("x-api-key"), sent.headers.get("authorization", "")[7:])
    body = sent.body
    assert body["model"] == "claude-test"
    assert body["system"] == "Be brief."
    assert body["messages"] == [{"role": "user", "content": "Name a city."}]
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS
    assert "seed" not in body and "top_p" not in body and "tools" not in body


def test_sampling_settings_follow_what_the_sdk_takes():
    import anthropic

    takes = "temperature" in inspect.signature(anthropic.AsyncAnthropic(
        api_key="x").messages.create).parameters
    with FakeServer() as server:
        server.push(anthropic_text("a")).push(anthropic_text("b")).push(anthropic_text("c"))
        run(server.url, settings=ModelSettings(temperature=0.5))
        run(server.url, settings=ModelSettings(temperature=0.5, top_p=0.9), send_sampling=True)
        run(server.url, settings=ModelSettings(temperature=0.5), send_sampling=False)
    default, forced, off = (r.body for r in server.requests)
    assert default.get("temperature") == (0.5 if takes else None)
    assert (forced["temperature"], forced["top_p"]) == (0.5, 0.9)
    assert "temperature" not in off and "top_p" not in off


def test_max_tokens_from_settings():
    with FakeServer() as server:
        server.push(anthropic_text("ok"))
        run(server.url, messages=[Message.user("hi")], settings=ModelSettings(max_tokens=64))
    assert server.requests[0].body["max_tokens"] == 64
    assert "system" not in server.requests[0].body


def test_structured_output_through_a_forced_tool():
    with FakeServer() as server:
        server.push(anthropic_tool({"name": "Lisbon", "population": 545000}))
        response = run(server.url, output=City)
    assert response.data == City(name="Lisbon", population=545000)
    assert response.notes == ()
    body = server.requests[0].body
    (tool,) = body["tools"]
    assert tool["name"] == "respond" and tool["input_schema"] == City.model_json_schema()
    assert body["tool_choice"] == {"type": "tool", "name": "respond"}


def test_non_object_schema_is_wrapped_and_unwrapped():
    schema = {"type": "array", "items": {"type": "string"}}
    with FakeServer() as server:
        server.push(anthropic_tool({"value": ["a", "b"]}))
        response = run(server.url, output=schema)
    assert response.data == ["a", "b"]
    input_schema = server.requests[0].body["tools"][0]["input_schema"]
    assert input_schema["type"] == "object" and input_schema["properties"]["value"] == schema


def test_invalid_tool_input_is_repaired_with_a_tool_result():
    with FakeServer() as server:
        server.push(anthropic_tool({"name": "Lisbon"}, tool_id="toolu_bad"))
        server.push(anthropic_tool({"name": "Lisbon", "population": 545000}))
        response = run(server.url, output=City)
    assert response.data.population == 545000
    assert len(response.notes) == 1 and "population" in response.notes[0]
    assert response.usage.model_calls == 2 and response.usage.prompt_tokens == 26
    assistant, user = server.requests[1].body["messages"][-2:]
    assert assistant["role"] == "assistant"
    assert assistant["content"][0]["type"] == "tool_use"
    assert assistant["content"][0]["id"] == "toolu_bad"
    result = user["content"][0]
    assert result["type"] == "tool_result" and result["tool_use_id"] == "toolu_bad"
    assert result["is_error"] is True and "rejected" in result["content"]


def test_output_validation_error_after_repairs_run_out():
    with FakeServer() as server:
        for _ in range(3):
            server.push(anthropic_tool({"name": 5}))
        error = failure(server.url, output=City)
    assert isinstance(error, OutputValidationError) and not is_transient(error)
    assert (error.provider, error.model) == ("anthropic", "claude-test")
    assert len(server.requests) == 3


def test_429_is_a_rate_limit_with_retry_after():
    with FakeServer() as server:
        server.push(anthropic_error("Number of requests has exceeded your rate limit",
                                    type_="rate_limit_error"),
                    status=429, headers={"Retry-After": "7"})
        error = failure(server.url)
    assert isinstance(error, RateLimitError) and is_transient(error)
    assert error.retry_after == 7 and error.status == 429
    assert "rate limit" in error.message


@pytest.mark.parametrize("status", [500, 529])
def test_server_errors_and_overload_are_transient(status):
    with FakeServer() as server:
        server.push(anthropic_error("Overloaded", type_="overloaded_error"), status=status)
        error = failure(server.url)
    assert isinstance(error, ModelServerError) and is_transient(error)
    assert error.status == status and error.provider == "anthropic"


def test_400_is_a_permanent_request_error():
    with FakeServer() as server:
        server.push(anthropic_error("prompt is too long: 250000 tokens > 200000 maximum"),
                    status=400)
        error = failure(server.url)
    assert isinstance(error, ModelRequestError) and not is_transient(error)
    assert "400" in error.message and "prompt is too long" in error.message


def test_401_names_the_variable_and_never_the_key():
    with FakeServer() as server:
        server.push(anthropic_error(f"invalid x-api-key {KEY}", type_="authentication_error"),
                    status=401)
        error = failure(server.url)
    assert isinstance(error, ModelRequestError) and error.status == 401
    assert "ANTHROPIC_API_KEY" in error.message
    assert KEY not in str(error) and KEY not in repr(error)
    assert KEY not in str(pickle.loads(pickle.dumps(error)).__dict__)


def test_closed_port_is_a_connection_error():
    error = failure(closed_port_url())
    assert isinstance(error, ModelConnectionError) and is_transient(error)


def test_guard_refuses_requests_when_disallowed():
    model = AnthropicModel("claude-test", base_url=closed_port_url(), api_key=KEY)
    with allow_model_requests(False), pytest.raises(ModelRequestsDisallowed):
        asyncio.run(model.request(ASK))


def test_errors_survive_pickling():
    with FakeServer() as server:
        server.push(anthropic_error("Overloaded", type_="overloaded_error"), status=529,
                    headers={"retry-after": "3"})
        error = failure(server.url)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ModelServerError
    assert (copy.message, copy.status, copy.retry_after, copy.model) == (
        error.message, 529, 3, "claude-test")


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_create_needs_a_key(clean_env):
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        create("anthropic", "claude-3-5-haiku-latest")


def test_create_from_env(clean_env):
    clean_env.setenv("ANTHROPIC_API_KEY", KEY)
    clean_env.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/")
    model = create("anthropic", "claude-3-5-haiku-latest")
    assert model.name == "anthropic:claude-3-5-haiku-latest"
    assert model.base_url == "http://127.0.0.1:9"


def test_create_without_the_extra(clean_env):
    clean_env.setenv("ANTHROPIC_API_KEY", KEY)
    clean_env.setitem(sys.modules, "anthropic", None)
    with pytest.raises(ConfigurationError) as info:
        create("anthropic", "claude-3-5-haiku-latest")
    assert str(info.value) == MISSING_EXTRA
    with pytest.raises(ConfigurationError, match="delegate\\[anthropic\\]"):
        AnthropicModel("claude-test", api_key=KEY)
