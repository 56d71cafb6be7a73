"""Structured output: one place that turns an output type into a JSON schema and parses
and validates what a model wrote against it. Providers call these; workflow code never parses
JSON itself.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import OutputValidationError
from ._failures import one_line
from .base import OutputType

__all__ = ["json_schema_of", "parse_output", "repair_prompt", "schema_name"]


def json_schema_of(output: OutputType) -> dict[str, Any] | None:
    """The JSON schema for ``output`` (a pydantic model class or a schema dict)."""
    if output is None:
        return None
    if isinstance(output, dict):
        return output
    if isinstance(output, type) and issubclass(output, BaseModel):
        return output.model_json_schema()
    raise TypeError(f"output must be a pydantic model class or a JSON schema dict, not {output!r}")


def schema_name(output: OutputType) -> str:
    """A short identifier for the schema, as some APIs require one."""
    if isinstance(output, type):
        name = output.__name__
    else:
        name = str((output or {}).get("title") or "output")
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "output"


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def parse_output(
    text: str, output: OutputType, *, provider: str = "", model: str = "", usage: Any = None
) -> Any:
    """Parse ``text`` as JSON and validate it against ``output``.

    Tolerates a Markdown code fence around the JSON (some endpoints add one in JSON mode), and
    words around one JSON object or array (a model asked for JSON in plain text, without a
    ``response_format``, often says something before or after it).

    Raises:
        OutputValidationError: when the text is not JSON or does not match the schema; the
            message says what is wrong so that it can be sent back to the model, and the
            error carries ``usage`` (the tokens the failed answer cost) for metering.
    """
    try:
        return _parse(text, output, provider, model)
    except OutputValidationError as exc:
        exc.usage = usage
        raise


def _parse(text: str, output: OutputType, provider: str, model: str) -> Any:
    raw = text.strip()
    fenced = _FENCE.match(raw)
    if fenced:
        raw = fenced.group(1)
    try:
        value = json.loads(raw, strict=False)  # tolerate raw newlines inside strings
    except json.JSONDecodeError as exc:
        value = _embedded_json(raw)
        if value is None:
            raise OutputValidationError(
                f"output is not valid JSON ({exc.msg} at position {exc.pos})",
                output=text, provider=provider, model=model,
            ) from None
    if isinstance(output, type) and issubclass(output, BaseModel):
        try:
            return output.model_validate(value)
        except ValidationError as exc:
            problems = one_line("; ".join(_describe(e) for e in exc.errors()))
            raise OutputValidationError(
                f"output does not match the schema: {problems}",
                output=text, provider=provider, model=model,
            ) from None
    if isinstance(output, dict):
        _validate_json_schema(value, output, text, provider, model)
    return value


def _embedded_json(text: str) -> Any:
    """The first JSON object or array inside ``text`` (among its first 20 brackets), or
    ``None`` when there is none."""
    decoder = json.JSONDecoder(strict=False)
    for tries, match in enumerate(re.finditer(r"[{\[]", text)):
        if tries == 20:
            break
        try:
            value, _end = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        return value
    return None


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(map(str, error["loc"])) or "(root)"
    got = error.get("input")
    short = isinstance(got, str | int | float | bool) and len(repr(got)) < 60
    shown = f" (got {got!r})" if short else ""
    return f"{where}: {error['msg']}{shown}"


def _validate_json_schema(value: Any, schema: dict, text: str, provider: str, model: str) -> None:
    import jsonschema

    try:
        validator = _validator(json.dumps(schema, sort_keys=True))
    except jsonschema.SchemaError as exc:
        raise OutputValidationError(
            f"the output schema itself is invalid: {exc.message}", provider=provider, model=model
        ) from None
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is not None:
        where = ".".join(map(str, error.absolute_path)) or "(root)"
        raise OutputValidationError(
            f"output does not match the schema: {one_line(f'{where}: {error.message}')}",
            output=text, provider=provider, model=model,
        )


@functools.lru_cache(maxsize=64)
def _validator(schema_json: str) -> Any:
    """A checked validator per schema: checking a schema costs far more than using it."""
    import jsonschema

    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def repair_prompt(error: OutputValidationError, schema: dict[str, Any]) -> str:
    """The message that sends a failed structured answer back to the model."""
    return (
        f"Your previous answer was rejected: {error.message}.\n"
        f"Answer again with only a JSON value that matches this schema:\n{json.dumps(schema)}"
    )
