"""OpenAICompatModel against a scripted server on 127.0.0.1, and create() configuration."""

from __future__ import annotations

import asyncio
import email.utils
import json
import pickle

import pytest

from delegate.errors import (
    ConfigurationError,
    ModelConnectionError,
    ModelRequestError,
    ModelRequestsDisallowed,
    ModelServerError,
    ModelTimeoutError,
    OutputValidationError,
    RateLimitError,
    TransientModelError,
    is_transient,
)
from delegate.llm._failures import retry_after_seconds
from delegate.llm.base import Message, ModelSettings
from delegate.llm.guard import allow_model_requests
from delegate.llm.openai_compat import OpenAICompatModel, create

from .fakeserver import (
    ASK,
    City,
    FakeServer,
    closed_port_url,
    openai_chat,
    openai_error,
    request_once,
)

KEY = "sk-test-secret-0123456789"


def run(server_url: str, messages=ASK, **kw):
    """Make one request against ``server_url`` and close the client."""
    model = OpenAICompatModel("gpt-test", base_url=server_url + "/v1", api_key=KEY, timeout=5)
    return request_once(model, messages, **kw)


def failure(server: FakeServer, **kw) -> BaseException:
    with pytest.raises(Exception) as info:
        run(server.url, **kw)
    return info.value


def test_text_answer_usage_and_request_shape():
    with FakeServer() as server:
        server.push(openai_chat("Lisbon", prompt_tokens=12, completion_tokens=3))
        response = run(server.url, settings=ModelSettings(temperature=0.2, max_tokens=50, seed=7))
    assert response.text == "Lisbon"
    assert response.data is None
    assert response.model == "openai:gpt-test"
    assert response.usage.as_dict().items() >= {"model_calls": 1, "prompt_tokens": 12,
                                                 "completion_tokens": 3, "cache_hits": 0}.items()
    (sent,) = server.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.body["model"] == "gpt-test"
    assert sent.body["messages"] == [{"role": "system", "content": "Be brief."},
                                     {"role": "user", "content": "Name a city."}]
    assert (sent.body["temperature"], sent.body["max_tokens"], sent.body["seed"]) == (0.2, 50, 7)
    assert "top_p" not in sent.body and "response_format" not in sent.body


def test_structured_output_uses_json_schema():
    with FakeServer() as server:
        server.push(openai_chat('{"name": "Lisbon", "population": 545000}'))
        response = run(server.url, output=City)
    assert response.data == City(name="Lisbon", population=545000)
    assert response.notes == ()
    fmt = server.requests[0].body["response_format"]
    assert fmt == {"type": "json_schema",
                   "json_schema": {"name": "City", "schema": City.model_json_schema()}}


def test_dict_schema_output_returns_parsed_json():
    schema = {"type": "array", "items": {"type": "string"}, "title": "names"}
    with FakeServer() as server:
        server.push(openai_chat('["a", "b"]'))
        response = run(server.url, output=schema)
    assert response.data == ["a", "b"]


def test_steps_down_to_json_object_when_json_schema_is_refused():
    model = OpenAICompatModel("gpt-test", api_key=KEY)
    with FakeServer() as server:
        model.base_url = server.url + "/v1"
        refusal = openai_error("response_format type 'json_schema' is not supported",
                               param="response_format")
        server.push(refusal, status=400)
        server.push(openai_chat('{"name": "Oslo", "population": 700000}'))
        server.push(openai_chat('{"name": "Rome", "population": 2800000}'))

        async def go():
            try:
                first = await model.request(ASK, output=City)
                second = await model.request(ASK, output=City)
            finally:
                await model.aclose()
            return first, second

        with allow_model_requests():
            first, second = asyncio.run(go())
    assert first.data.name == "Oslo" and second.data.name == "Rome"
    note = "structured output: json_object (json_schema refused: HTTP 400)"
    assert first.notes == (note,) and second.notes == (note,)
    assert first.usage.model_calls == 2 and second.usage.model_calls == 1
    assert model.structured_rung == "json_object"
    formats = [r.body["response_format"]["type"] for r in server.requests]
    assert formats == ["json_schema", "json_object", "json_object"]
    assert server.requests[1].body["response_format"]["schema"] == City.model_json_schema()
    system = server.requests[1].body["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("Be brief.")
    assert json.dumps(City.model_json_schema()) in system["content"]


def test_other_400_is_not_mistaken_for_json_schema_refusal():
    with FakeServer() as server:
        server.push(openai_error("model 'gpt-test' does not exist"), status=400)
        error = failure(server, output=City)
    assert isinstance(error, ModelRequestError) and error.status == 400
    assert len(server.requests) == 1


def test_invalid_json_is_repaired():
    with FakeServer() as server:
        server.push(openai_chat("Lisbon, about half a million", completion_tokens=4))
        server.push(openai_chat('{"name": "Lisbon", "population": 545000}', completion_tokens=9))
        response = run(server.url, output=City)
    assert response.data.population == 545000
    assert len(response.notes) == 1 and "not valid JSON" in response.notes[0]
    assert response.usage.model_calls == 2
    assert response.usage.prompt_tokens == 22 and response.usage.completion_tokens == 13
    messages = server.requests[1].body["messages"]
    assert messages[-2] == {"role": "assistant", "content": "Lisbon, about half a million"}
    assert messages[-1]["role"] == "user" and "rejected" in messages[-1]["content"]


def test_output_validation_error_after_repairs_run_out():
    with FakeServer() as server:
        server.push(openai_chat("no"))
        server.push(openai_chat('{"name": "Lisbon"}'))
        server.push(openai_chat('{"name": "Lisbon", "population": "many"}'))
        error = failure(server, output=City)
    assert isinstance(error, OutputValidationError) and not is_transient(error)
    assert error.output == '{"name": "Lisbon", "population": "many"}'
    assert "population" in error.message
    assert (error.provider, error.model) == ("openai", "gpt-test")
    assert len(server.requests) == 3


def test_429_is_a_rate_limit_with_retry_after():
    with FakeServer() as server:
        server.push(openai_error("Rate limit reached", type_="requests"), status=429,
                    headers={"Retry-After": "7"})
        error = failure(server)
    assert isinstance(error, RateLimitError) and is_transient(error)
    assert error.retry_after == 7
    assert (error.provider, error.model, error.status) == ("openai", "gpt-test", 429)
    assert "Rate limit reached" in error.message


def test_500_is_a_transient_server_error():
    with FakeServer() as server:
        server.push(openai_error("The server had an error", type_="server_error"), status=500)
        error = failure(server)
    assert isinstance(error, ModelServerError) and is_transient(error)
    assert error.status == 500 and error.retry_after is None


def test_409_is_transient():
    with FakeServer() as server:
        server.push(openai_error("conflict"), status=409)
        error = failure(server)
    assert isinstance(error, TransientModelError) and error.status == 409


def test_400_is_a_permanent_request_error():
    with FakeServer() as server:
        server.push(openai_error("'messages' must contain at least one message"), status=400)
        error = failure(server)
    assert isinstance(error, ModelRequestError) and not is_transient(error)
    assert error.status == 400
    assert "400" in error.message and "at least one message" in error.message


def test_401_names_the_variable_and_never_the_key():
    with FakeServer() as server:
        server.push(openai_error(f"Incorrect API key provided: {KEY}", type_="invalid_api_key"),
                    status=401)
        error = failure(server)
    assert isinstance(error, ModelRequestError) and error.status == 401
    assert "OPENAI_API_KEY" in error.message and "rejected" in error.message
    assert KEY not in error.message and KEY not in repr(error) and KEY not in str(error)


def test_closed_port_is_a_connection_error():
    error = failure_at(closed_port_url())
    assert isinstance(error, ModelConnectionError) and is_transient(error)
    assert error.provider == "openai"


def failure_at(url: str) -> BaseException:
    with pytest.raises(Exception) as info:
        run(url)
    return info.value


def test_slow_server_is_a_timeout():
    model = OpenAICompatModel("gpt-test", api_key=KEY, timeout=0.2)
    with FakeServer() as server:
        model.base_url = server.url + "/v1"
        server.push(openai_chat("late"), delay=1.5)
        with allow_model_requests(), pytest.raises(ModelTimeoutError) as info:
            asyncio.run(model.request(ASK))
    assert is_transient(info.value)


def test_guard_refuses_requests_when_disallowed():
    model = OpenAICompatModel("gpt-test", base_url=closed_port_url(), api_key=KEY)
    with allow_model_requests(False), pytest.raises(ModelRequestsDisallowed):
        asyncio.run(model.request(ASK))


def test_errors_survive_pickling():
    with FakeServer() as server:
        server.push(openai_error("slow down"), status=429, headers={"retry-after-ms": "1500"})
        error = failure(server)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is RateLimitError
    assert (copy.message, copy.provider, copy.model, copy.status, copy.retry_after) == (
        error.message, "openai", "gpt-test", 429, 1.5)


def test_retry_after_parsing():
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after_seconds({"retry-after": date}, now=now) == pytest.approx(30)
    assert retry_after_seconds({"retry-after": "2.5"}) == 2.5
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GROQ_API_KEY", "OLLAMA_HOST"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_create_openai_needs_a_key(clean_env):
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        create("openai", "gpt-4o-mini")


def test_create_openai_from_env(clean_env):
    clean_env.setenv("OPENAI_API_KEY", KEY)
    model = create("openai", "gpt-4o-mini")
    assert model.name == "openai:gpt-4o-mini"
    assert model.base_url == "https://api.openai.com/v1"


def test_create_openai_with_base_url_needs_no_key(clean_env):
    clean_env.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1/")
    model = create("openai", "local-model")
    assert model.base_url == "http://127.0.0.1:8080/v1"


def test_create_groq_needs_a_key(clean_env):
    with pytest.raises(ConfigurationError, match="GROQ_API_KEY"):
        create("groq", "llama-3.1-8b-instant")
    clean_env.setenv("GROQ_API_KEY", KEY)
    model = create("groq", "llama-3.1-8b-instant")
    assert model.base_url == "https://api.groq.com/openai/v1"
    assert model.name == "groq:llama-3.1-8b-instant"


@pytest.mark.parametrize(("host", "expected"), [
    (None, "http://127.0.0.1:11434/v1"),
    ("0.0.0.0:11434", "http://0.0.0.0:11434/v1"),
    ("gpu-box:9999", "http://gpu-box:9999/v1"),
    ("https://ollama.example.com/", "https://ollama.example.com/v1"),
    ("http://10.0.0.5:11434/v1", "http://10.0.0.5:11434/v1"),
])
def test_create_ollama_reads_ollama_host(clean_env, host, expected):
    if host is not None:
        clean_env.setenv("OLLAMA_HOST", host)
    model = create("ollama", "llama3.2")
    assert model.base_url == expected and model.name == "ollama:llama3.2"


def test_create_ollama_sends_request_to_ollama_host(clean_env):
    with FakeServer() as server:
        clean_env.setenv("OLLAMA_HOST", server.url.removeprefix("http://"))
        server.push(openai_chat("hi"))
        model = create("ollama", "llama3.2")
        with allow_model_requests():
            response = asyncio.run(model.request([Message.user("hello")]))
    assert response.text == "hi"
    assert server.requests[0].path == "/v1/chat/completions"
