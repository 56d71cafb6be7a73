"""Structured output on OpenAI-compatible endpoints that refuse ``json_schema``: the ladder
json_schema -> json_object -> text, remembered per endpoint, and one-line error messages."""

from __future__ import annotations

import asyncio

import pytest

from delegate.errors import ModelRequestError, ModelServerError
from delegate.llm._failures import MESSAGE_LIMIT, one_line
from delegate.llm.guard import allow_model_requests
from delegate.llm.openai_compat import OpenAICompatModel

from .fakeserver import ASK, City, FakeServer, Reply, openai_chat, openai_error, request_once

OSLO = '{"name": "Oslo", "population": 700000}'

# what llama-cpp-python's server answers to a json_schema response_format: HTTP 500, and the
# validation error with a traceback, over several lines
LLAMA_SERVER_500 = openai_error(
    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', "
    "'type'), 'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}\n\n"
    '  File "llama_cpp/server/app.py", line 376, in create_chat_completion\n'
    "    POST /v1/chat/completions", type_="internal_server_error")


def model_for(server: FakeServer, name: str = "gpt-test") -> OpenAICompatModel:
    return OpenAICompatModel(name, base_url=server.url + "/v1", api_key="k", timeout=5)


def formats(server: FakeServer) -> list[str | None]:
    return [(r.body.get("response_format") or {}).get("type") for r in server.requests]


def test_llama_server_500_naming_response_format_steps_down_to_json_object():
    with FakeServer() as server:
        server.push(LLAMA_SERVER_500, status=500)
        server.push(openai_chat(OSLO))
        response = request_once(model_for(server), ASK, output=City)
    assert response.data == City(name="Oslo", population=700000)
    assert response.notes == ("structured output: json_object (json_schema refused: HTTP 500)",)
    assert formats(server) == ["json_schema", "json_object"]
    system = server.requests[1].body["messages"][0]["content"]
    assert system.startswith("Be brief.") and '"population"' in system


def test_a_500_that_does_not_name_the_format_is_a_server_error():
    with FakeServer() as server:
        server.push(openai_error("The server had an error", type_="server_error"), status=500)
        model = model_for(server)
        with pytest.raises(ModelServerError) as info:
            request_once(model, ASK, output=City)
    assert info.value.status == 500 and len(server.requests) == 1
    assert model.structured_rung == "json_schema"


def test_json_object_refused_too_falls_to_plain_text_with_validation():
    with FakeServer() as server:
        server.push(LLAMA_SERVER_500, status=500)
        server.push(openai_error("response_format json_object is not supported"), status=422)
        server.push(openai_chat(f"Sure! Here it is:\n{OSLO}\nAnything else?"))
        response = request_once(model_for(server), ASK, output=City)
    assert response.data.name == "Oslo"
    assert response.notes == ("structured output: text (json_schema refused: HTTP 500; "
                              "json_object refused: HTTP 422)",)
    assert formats(server) == ["json_schema", "json_object", None]
    assert '"population"' in server.requests[2].body["messages"][0]["content"]


def test_plain_text_rung_repairs_an_invalid_answer():
    with FakeServer() as server:
        server.push(LLAMA_SERVER_500, status=500)
        server.push(openai_error("unknown field response_format"), status=400)
        server.push(openai_chat("Oslo is a city."))
        server.push(openai_chat(OSLO))
        response = request_once(model_for(server), ASK, output=City)
    assert response.data.name == "Oslo" and response.usage.model_calls == 4
    assert "structured output: text" in response.notes[0] and "repair 1" in response.notes[1]
    assert formats(server) == ["json_schema", "json_object", None, None]


def test_the_rung_is_remembered_per_endpoint_across_instances():
    with FakeServer() as server:
        server.push(LLAMA_SERVER_500, status=500)
        server.push(openai_chat(OSLO))
        request_once(model_for(server), ASK, output=City)
        server.push(openai_chat(OSLO))  # a second instance, same endpoint: no refused request
        again = request_once(model_for(server), ASK, output=City)
        server.push(openai_chat(OSLO))  # another model on the same server starts at the top
        other = request_once(model_for(server, "other-model"), ASK, output=City)
    assert formats(server) == ["json_schema", "json_object", "json_object", "json_schema"]
    assert again.usage.model_calls == 1
    assert again.notes == ("structured output: json_object (json_schema refused: HTTP 500)",)
    assert other.notes == ()


def test_concurrent_refusals_step_down_once():
    with FakeServer() as server:
        model = model_for(server)

        def answer(body):  # by the format asked for: the two requests may arrive in any order
            if (body.get("response_format") or {}).get("type") == "json_schema":
                return Reply(500, LLAMA_SERVER_500)
            return Reply(200, openai_chat(OSLO))

        server.responder = answer

        async def both():
            try:
                return await asyncio.gather(model.request(ASK, output=City),
                                            model.request(ASK, output=City))
            finally:
                await model.aclose()

        with allow_model_requests():
            first, second = asyncio.run(both())
    assert model.structured_rung == "json_object"
    assert 1 <= formats(server).count("json_schema") <= 2  # never asked again once refused
    assert formats(server).count("json_object") == 2
    assert first.notes == second.notes == (
        "structured output: json_object (json_schema refused: HTTP 500)",)


def test_text_requests_never_send_a_response_format_after_a_step_down():
    with FakeServer() as server:
        server.push(LLAMA_SERVER_500, status=500)
        server.push(openai_chat(OSLO))
        server.push(openai_chat("plain words"))
        model = model_for(server)
        request_once(model, ASK, output=City)
        text = request_once(model, ASK)
    assert text.text == "plain words" and text.notes == ()
    assert formats(server)[-1] is None


def test_server_errors_are_one_line_and_short():
    dump = "Traceback (most recent call last):\n" + "  File 'x.py', line 1\n" * 300
    with FakeServer() as server:
        server.push(openai_error(dump, type_="internal_server_error"), status=500)
        server.push("<html>\n<body>\nBad\n\nrequest</body>\n</html>\n" * 50, status=400)
        model = model_for(server)
        errors = []
        for _ in range(2):
            try:
                request_once(model, ASK)
            except (ModelServerError, ModelRequestError) as exc:
                errors.append(exc)
    assert [type(e) for e in errors] == [ModelServerError, ModelRequestError]
    for error in errors:
        assert "\n" not in error.message and len(error.message) <= MESSAGE_LIMIT + 80
    assert "Traceback (most recent call last): File 'x.py', line 1" in errors[0].message


def test_one_line():
    assert one_line("a\n\n  b\tc ") == "a b c"
    long = one_line("word " * 200, limit=50)
    assert len(long) == 50 and long.endswith("…")


def test_validation_messages_are_one_line_and_short():
    from delegate.errors import OutputValidationError
    from delegate.llm.structured import parse_output

    schema = {"type": "object", "properties": {"tags": {"type": "array"}}, "required": ["tags"]}
    huge = '{"tags": {' + ", ".join(f'"k{i}": "line\\nbreak {i}"' for i in range(300)) + "}}"
    with pytest.raises(OutputValidationError) as info:
        parse_output(huge, schema)
    assert "\n" not in info.value.message and len(info.value.message) < 400
    assert info.value.output == huge  # the whole answer is kept for the record
