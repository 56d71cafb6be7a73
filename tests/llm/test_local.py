"""The embedded model runs for real here: llama.cpp with SmolLM2-135M-Instruct."""

import asyncio
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from delegate.errors import ConfigurationError, ModelRequestError
from delegate.llm import Message, ModelSettings, get_model
from delegate.llm.local import LocalModel, default_model_path

pytestmark = pytest.mark.embedded


class Trip(BaseModel):
    destination: str = Field(max_length=60)
    days: int
    season: Literal["spring", "summer", "autumn", "winter"]


def ask(model, text, **kw):
    return asyncio.run(model.request([Message.user(text)], **kw))


def test_structured_request_returns_a_validated_object():
    model = get_model("local:default")
    response = ask(model, "Plan a 5 day summer trip to Colorado.", output=Trip,
                   settings=ModelSettings(max_tokens=80))
    assert isinstance(response.data, Trip)
    assert Trip.model_validate_json(response.text) == response.data
    assert response.usage.prompt_tokens > 0 and response.usage.completion_tokens > 0
    assert response.model == "local:default"


def test_json_schema_dict_output():
    schema = {"type": "object", "properties": {"colour": {"enum": ["red", "green"]}},
              "required": ["colour"]}
    response = ask(get_model("local:default"), "Pick a colour.", output=schema,
                   settings=ModelSettings(max_tokens=20))
    assert response.data["colour"] in ("red", "green")


def test_text_request_and_determinism_at_temperature_zero():
    model = get_model("local:default")
    first = ask(model, "Say hello.", settings=ModelSettings(max_tokens=12))
    second = ask(model, "Say hello.", settings=ModelSettings(max_tokens=12))
    assert first.text and first.text == second.text


def test_inference_runs_off_the_event_loop_and_serves_concurrent_requests():
    model = LocalModel(default_model_path(), name="default", pool_size=2)
    ticks = 0

    async def main():
        nonlocal ticks
        calls = [model.request([Message.user(f"Count to {n}.")],
                               settings=ModelSettings(max_tokens=24)) for n in (3, 4, 5)]
        gathered = asyncio.gather(*calls)
        while not gathered.done():
            ticks += 1
            await asyncio.sleep(0)
        return await gathered

    responses = asyncio.run(main())
    assert all(r.text for r in responses)
    assert model.instances == 2  # three requests, never more instances than the pool
    assert ticks > 10  # the loop kept turning while the model generated


def test_prompt_longer_than_the_context_is_a_clear_error():
    model = LocalModel(default_model_path(), pool_size=1, n_ctx=128)
    with pytest.raises(ModelRequestError, match="context"):
        ask(model, "word " * 400)


def test_missing_gguf_file():
    with pytest.raises(ConfigurationError, match="no GGUF model file"):
        get_model("local:/nonexistent/model.gguf")


def test_aclose_frees_the_instances_and_the_model_loads_again_on_demand():
    model = LocalModel(default_model_path(), name="default", pool_size=1)

    async def main():
        first = await model.request([Message.user("Say hi.")],
                                    settings=ModelSettings(max_tokens=4))
        assert model.instances == 1
        await model.aclose()
        assert model.instances == 0 and model._idle.empty() and model._executor is None
        again = await model.request([Message.user("Say hi.")],
                                    settings=ModelSettings(max_tokens=4))
        await model.aclose()
        return first, again

    first, again = asyncio.run(main())
    assert first.text == again.text  # a fresh instance answers the same at temperature 0
