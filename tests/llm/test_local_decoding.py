"""The local provider's decoding settings, per request, and cancellation of text and structured
requests, with llama.cpp replaced by a fake that generates the way llama-cpp-python does; and
one check of the n-gram ban on the real embedded model."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
import pytest

from delegate.apps._common.checks import distinct_ngram_ratio
from delegate.llm import Message, ModelSettings, local_decoding
from delegate.llm.local import LocalModel, NoRepeatNGram, default_model_path

EOS = 0
VOCAB = 64
PROMPT = [50, 51, 52]
SCHEMA = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}


class FakeLlama:
    """Stands in for ``llama_cpp.Llama``. As in llama-cpp-python, ``create_chat_completion``
    hands over to ``create_completion`` on the object it was called on (the chat handler's
    ``llama``), which samples greedily: before each token the logits processors see every token
    so far (the prompt first) and the logits by token id; after it the stopping criterion runs.
    The model wants ``script`` (then end-of-text), each token's runner-up being ``token + 20``.
    With a grammar (``response_format``), end-of-text before the script's end is illegal: real
    llama.cpp aborts the process there, this fake raises.

    ``pause_at``: after that many tokens it sets ``paused`` and waits for ``resume``."""

    def __init__(self, script: list[int], pause_at: int | None = None) -> None:
        self.script = script
        self.pause_at = pause_at
        self.paused, self.resume = threading.Event(), threading.Event()
        self.done = threading.Event()
        self.calls: list[dict[str, Any]] = []
        self.generated: list[list[int]] = []

    def token_eos(self) -> int:
        return EOS

    def create_chat_completion(self, messages, **kwargs):
        return self.create_completion(prompt=list(PROMPT), **kwargs)

    def create_completion(self, prompt, *, max_tokens, stopping_criteria=None,
                          logits_processor=None, response_format=None, **kwargs):
        self.calls.append({"response_format": response_format, "logits_processor":
                           list(logits_processor or ()), **kwargs})
        ids, out, finish = list(prompt), [], "length"
        try:
            for step in range(max_tokens):
                if step == self.pause_at:
                    self.paused.set()
                    self.resume.wait(5)
                scores = np.full(VOCAB, -5.0, dtype=np.single)
                if step < len(self.script):
                    scores[self.script[step]] = 10.0
                    scores[self.script[step] + 20] = 5.0
                else:
                    scores[EOS] = 10.0
                for processor in logits_processor or ():
                    scores = processor(np.array(ids, dtype=np.intc), scores)
                token = int(np.argmax(scores))
                if token == EOS:
                    if response_format is not None and step < len(self.script):
                        raise RuntimeError("grammar: end of text where the grammar goes on")
                    finish = "stop"
                    break
                ids.append(token)
                out.append(token)
                if stopping_criteria is not None and stopping_criteria(ids, scores):
                    finish = "stop"
                    break
        finally:
            self.generated.append(out)
            self.done.set()
        text = " ".join(f"w{t}" for t in out)
        if response_format is not None and finish == "stop" and step >= len(self.script):
            text = f'{{"text": "{text}"}}'
        return {"choices": [{"message": {"role": "assistant", "content": text},
                             "finish_reason": finish}],
                "usage": {"prompt_tokens": len(prompt), "completion_tokens": len(out)}}


def fake_model(tmp_path, monkeypatch, fake: FakeLlama) -> LocalModel:
    gguf = tmp_path / "fake.gguf"
    gguf.write_bytes(b"")
    model = LocalModel(gguf, name="fake", pool_size=1)
    monkeypatch.setattr(model, "_load", lambda: fake)
    return model


def ask(model, settings=None, output=None):
    return asyncio.run(model.request([Message.user("go")], output=output, settings=settings))


REPEATING = [1, 2, 3, 4] * 4  # what the model wants to write: one 4-gram, four times


def four_grams(tokens: list[int]) -> list[tuple[int, ...]]:
    return [tuple(tokens[i:i + 4]) for i in range(len(tokens) - 3)]


# -- the processor ----------------------------------------------------------------------------

def test_the_ban_forbids_only_tokens_that_complete_an_n_gram_generated_before():
    ban = NoRepeatNGram(3)
    prompt = [7, 8, 9]
    scores = np.zeros(16, dtype=np.single)
    ban(np.array([*prompt, 7, 8]), scores)  # first call: all of it is prompt, nothing banned
    assert np.isfinite(scores).all()
    ids = [*prompt, 1, 2, 3, 5, 1, 2]
    ban = NoRepeatNGram(3)
    ban(np.array(prompt), np.zeros(16, dtype=np.single))  # first call: the prompt
    scores = np.zeros(16, dtype=np.single)
    ban(np.array(ids), scores)
    assert np.isneginf(scores[3]) and np.isfinite(np.delete(scores, 3)).all()
    scores = np.zeros(16, dtype=np.single)
    ban(np.array([*ids, 4]), scores)  # (2, 4) starts nothing seen: nothing banned
    assert np.isfinite(scores).all()


def test_n_must_be_at_least_two():
    with pytest.raises(ValueError):
        NoRepeatNGram(1)


# -- per request, on a shared instance --------------------------------------------------------

def test_no_repeat_ngram_stops_a_repeated_4_gram_and_applies_to_its_request_only(
        tmp_path, monkeypatch):
    fake = FakeLlama(REPEATING)
    model = fake_model(tmp_path, monkeypatch, fake)
    banned = ask(model, ModelSettings(no_repeat_ngram=4, repeat_penalty=1.3))
    plain = ask(model)  # the same instance, the next request: no ban, the default penalty
    assert model.instances == 1
    first, second = fake.generated
    assert len(set(four_grams(first))) == len(four_grams(first))  # no 4-gram twice
    assert first[:7] == [1, 2, 3, 4, 1, 2, 3] and first[7] == 24  # the runner-up, once
    assert second == REPEATING and plain.text.split()[:4] == ["w1", "w2", "w3", "w4"]
    assert banned.text != plain.text
    assert fake.calls[0]["repeat_penalty"] == 1.3 and fake.calls[1]["repeat_penalty"] == 1.1
    assert not any(isinstance(p, NoRepeatNGram) for p in fake.calls[1]["logits_processor"])


def test_penalties_reach_llama_cpp_as_asked_and_default_as_before(tmp_path, monkeypatch):
    fake = FakeLlama([1, 2])
    model = fake_model(tmp_path, monkeypatch, fake)
    ask(model, ModelSettings(frequency_penalty=0.5, presence_penalty=0.25, repeat_penalty=1.0))
    ask(model)
    asked, default = fake.calls
    assert (asked["frequency_penalty"], asked["presence_penalty"]) == (0.5, 0.25)
    assert asked["repeat_penalty"] == 1.0  # 1.0 is "off", not "unset"
    assert default["repeat_penalty"] == 1.1
    assert "frequency_penalty" not in default and "presence_penalty" not in default


def test_under_a_schema_the_ban_is_not_applied_and_penalties_only_when_asked(
        tmp_path, monkeypatch):
    fake = FakeLlama(REPEATING)
    model = fake_model(tmp_path, monkeypatch, fake)
    response = ask(model, ModelSettings(no_repeat_ngram=3), output=SCHEMA)
    assert response.data == {"text": " ".join(f"w{t}" for t in REPEATING)}  # not cut short
    assert fake.calls[0]["logits_processor"] == []
    assert "repeat_penalty" not in fake.calls[0]  # no penalty under a schema by default
    ask(model, ModelSettings(repeat_penalty=1.2, presence_penalty=0.5), output=SCHEMA)
    assert (fake.calls[1]["repeat_penalty"], fake.calls[1]["presence_penalty"]) == (1.2, 0.5)


# -- cancellation -----------------------------------------------------------------------------

def cancel_midway(model: LocalModel, fake: FakeLlama, **kw) -> None:
    """Cancel a request once the fake has generated ``pause_at`` tokens, let the fake go on,
    and wait until its thread is done."""
    async def main():
        task = asyncio.create_task(model.request([Message.user("go")], **kw))
        assert await asyncio.to_thread(fake.paused.wait, 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        fake.resume.set()
        assert await asyncio.to_thread(fake.done.wait, 5)

    asyncio.run(main())


@pytest.mark.parametrize("output", [None, SCHEMA], ids=["text", "structured"])
def test_a_cancelled_request_stops_at_its_next_token(tmp_path, monkeypatch, output):
    fake = FakeLlama(list(range(1, 40)) * 50, pause_at=3)  # would run to max_tokens
    model = fake_model(tmp_path, monkeypatch, fake)
    settings = ModelSettings(max_tokens=1500, no_repeat_ngram=4)
    cancel_midway(model, fake, output=output, settings=settings)
    (generated,) = fake.generated
    assert len(generated) <= 4  # three before the cancel, at most one after
    assert model._idle.qsize() == 1  # the instance is back in the pool


# -- the real embedded model ------------------------------------------------------------------

@pytest.mark.embedded
def test_the_ban_on_the_embedded_model_leaves_no_token_4_gram_twice(monkeypatch):
    seen: list[list[int]] = []  # the tokens llama.cpp hands the processor, call by call

    class Recording(NoRepeatNGram):
        def __call__(self, ids, scores):
            seen.append([int(t) for t in ids])
            return super().__call__(ids, scores)

    monkeypatch.setattr(local_decoding, "NoRepeatNGram", Recording)
    model = LocalModel(default_model_path(), name="default", pool_size=1)
    messages = [Message.user("List ten tips for choosing trail-running shoes.")]

    async def both():
        try:
            free = await model.request(messages, settings=ModelSettings(
                max_tokens=80, repeat_penalty=1.0))
            banned = await model.request(messages, settings=ModelSettings(
                max_tokens=80, repeat_penalty=1.0, no_repeat_ngram=4))
            return free, banned
        finally:
            await model.aclose()

    free, banned = asyncio.run(both())
    assert distinct_ngram_ratio(free.text) < 0.8  # without the ban it says the same again
    generated = seen[-1][len(seen[0]):]
    assert len(generated) >= 20 and generated == seen[-1][-len(generated):]
    assert len(set(four_grams(generated))) == len(four_grams(generated))
    assert banned.text != free.text


@pytest.mark.embedded
def test_a_cancelled_structured_request_stops_early_on_the_embedded_model(monkeypatch):
    model = LocalModel(default_model_path(), name="default", pool_size=1)
    complete, started, finished = model._complete, threading.Event(), threading.Event()
    raw: list[dict] = []

    def watched(kwargs, cancel):
        started.set()
        try:
            raw.append(complete(kwargs, cancel))
        finally:
            finished.set()

    monkeypatch.setattr(model, "_complete", watched)
    schema = {"type": "object", "properties": {"story": {"type": "string"}},
              "required": ["story"]}

    async def main():
        task = asyncio.create_task(model.request(
            [Message.user("Write a very long story about a lighthouse keeper.")],
            output=schema, settings=ModelSettings(max_tokens=400)))
        assert await asyncio.to_thread(started.wait, 60)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(finished.wait, 60)
        await model.aclose()

    asyncio.run(main())
    (answer,) = raw
    assert answer["usage"]["completion_tokens"] < 5  # not the 400 it would have written
