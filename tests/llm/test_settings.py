"""Per-request decoding settings: their contract, and that every model call records the settings
it was made with (the cache key, the journal's stored call, the ModelCalled event), and how the
OpenAI-compatible provider maps them."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from delegate import Plan, ScriptedModel, Task, run, worker
from delegate.core.events import ModelCalled
from delegate.durable.journal import Journal, request_key
from delegate.durable.store.memory import MemoryStore
from delegate.errors import UsageError
from delegate.llm.base import Message, ModelSettings
from delegate.llm.openai_compat import OpenAICompatModel

from .fakeserver import FakeServer, openai_chat, request_once

PROSE = ModelSettings(max_tokens=260, repeat_penalty=1.3, frequency_penalty=0.5,
                      presence_penalty=0.25, no_repeat_ngram=4)
DECODING = ("repeat_penalty", "frequency_penalty", "presence_penalty", "no_repeat_ngram")


def test_the_decoding_fields_default_to_the_provider_and_merge_like_the_others():
    base = ModelSettings(max_tokens=100, repeat_penalty=1.1)
    assert all(getattr(ModelSettings(), name) is None for name in DECODING)
    merged = base.merged(ModelSettings(no_repeat_ngram=3, frequency_penalty=0.5))
    assert (merged.max_tokens, merged.repeat_penalty) == (100, 1.1)  # kept where None
    assert (merged.no_repeat_ngram, merged.frequency_penalty) == (3, 0.5)
    assert base.merged(ModelSettings(repeat_penalty=1.3)).repeat_penalty == 1.3


@pytest.mark.parametrize("bad", [
    {"no_repeat_ngram": 1}, {"no_repeat_ngram": 0}, {"no_repeat_ngram": 2.5},
    {"no_repeat_ngram": True}, {"repeat_penalty": 0.0}, {"repeat_penalty": -1.0},
])
def test_settings_that_cannot_work_are_refused_when_made(bad):
    with pytest.raises(UsageError) as info:
        ModelSettings(**bad)
    assert "\n" not in info.value.message and next(iter(bad)) in info.value.message


def test_each_decoding_field_is_part_of_the_request_key():
    model = ScriptedModel(responses=["x"])
    messages = [Message.user("hi")]
    base, request = request_key(model, messages, None, ModelSettings(max_tokens=50))
    assert request["settings"]["no_repeat_ngram"] is None  # JSON-ready, every field named
    keys = {base}
    for name, value in zip(DECODING, (1.3, 0.5, 0.5, 4), strict=True):
        settings = ModelSettings(max_tokens=50, **{name: value})
        key, request = request_key(model, messages, None, settings)
        assert request["settings"][name] == value
        keys.add(key)
    assert len(keys) == 1 + len(DECODING)  # no two of these requests share a cache entry


@worker("prose", description="writes with anti-repetition settings")
async def prose_worker(ctx):
    response = await ctx.model.request([Message.user(ctx.task.instruction)], settings=PROSE)
    return response.text


def test_a_model_call_records_the_settings_it_was_made_with_in_its_event_and_journal():
    store = MemoryStore()
    journal = Journal.start(store)
    events: list[ModelCalled] = []
    plan = Plan(tasks=(Task(id="a", worker="prose", instruction="Write about rivers."),))
    model = ScriptedModel(function=lambda call: "Rivers run to the sea.")
    result = asyncio.run(run("Write", workers=[prose_worker], model=model, plan=plan,
                             journal=journal, synthesize=False,
                             subscribers=[lambda e: events.append(e)
                                          if isinstance(e, ModelCalled) else None]))
    assert result.status == "succeeded"
    (event,) = [e for e in events if e.task_id == "a"]
    assert event.settings == PROSE
    (call,) = [c for c in store.model_calls(journal.run_id) if c.task_id == "a"]
    assert call.request["settings"] == dataclasses.asdict(PROSE)
    assert call.request_hash == request_key(model, [Message.user("Write about rivers.")],
                                            None, PROSE)[0]


# -- the OpenAI-compatible mapping ----------------------------------------------------------

def openai_body(base_url: str, settings: ModelSettings) -> dict:
    with FakeServer() as server:
        server.push(openai_chat("ok"))
        model = OpenAICompatModel("m", base_url=base_url or server.url + "/v1", timeout=5)
        if base_url:  # an official endpoint's URL, served here
            model.base_url = server.url + "/v1"
        request_once(model, [Message.user("hi")], settings=settings)
    (sent,) = server.requests
    return sent.body


def test_openai_compatible_servers_get_the_penalties_and_llama_cpp_s_repeat_penalty():
    body = openai_body("", PROSE)
    assert (body["frequency_penalty"], body["presence_penalty"]) == (0.5, 0.25)
    assert body["repeat_penalty"] == 1.3  # llama.cpp's servers take it; others ignore it
    assert "no_repeat_ngram" not in body  # no server implements it


@pytest.mark.parametrize("url", ["https://api.openai.com/v1", "https://api.groq.com/openai/v1"])
def test_endpoints_that_refuse_unknown_fields_never_get_repeat_penalty(url):
    body = openai_body(url, PROSE)
    assert "repeat_penalty" not in body and "no_repeat_ngram" not in body
    assert (body["frequency_penalty"], body["presence_penalty"]) == (0.5, 0.25)


def test_unset_decoding_fields_are_not_sent():
    body = openai_body("", ModelSettings(max_tokens=5))
    assert not {"repeat_penalty", "frequency_penalty", "presence_penalty"} & body.keys()
