"""Task outputs to JSON and back, with their types, for the run store.

A stored output must come back as the object its dependents expect: a pydantic model comes
back as that model, a dataclass as that dataclass. :func:`encode` writes such values as
``{"$type": "module:Qualname", "$data": ...}``; :func:`decode` rebuilds them, but only from a
class of a module that is already imported (the workflow being resumed has imported its own
types), so a store's contents can never make delegate import a module. JSON values pass
through; tuples come back as lists. Anything else cannot be stored faithfully:
:func:`encode` raises :class:`NotStorable` and the journal marks the output so that a resumed
run runs the task again instead of handing on a copy that is not the real thing.

:func:`event_data` gives an event's fields as JSON-ready data, the form the journal stores
events in.
"""

from __future__ import annotations

import dataclasses
import operator
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter

if TYPE_CHECKING:
    from ..core.events import Event

__all__ = ["NotStorable", "decode", "encode", "event_data", "jsonable"]

_TYPE, _DATA = "$type", "$data"


class NotStorable(TypeError):
    """The value has no faithful JSON form."""


def encode(value: Any) -> Any:
    """``value`` as JSON-ready data that :func:`decode` turns back into it."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise NotStorable("a dict with keys that are not strings")
        if _TYPE in value:
            raise NotStorable(f"a dict with a {_TYPE!r} key")
        return {k: encode(v) for k, v in value.items()}
    cls = type(value)
    if isinstance(value, BaseModel):
        return {_TYPE: _name(cls), _DATA: value.model_dump(mode="json")}
    if dataclasses.is_dataclass(value):
        try:
            return {_TYPE: _name(cls), _DATA: TypeAdapter(cls).dump_python(value, mode="json")}
        except Exception as exc:  # a field pydantic cannot serialise
            raise NotStorable(f"{cls.__name__}: {exc}") from None
    raise NotStorable(f"a value of type {cls.__module__}.{cls.__qualname__}")


def decode(data: Any) -> Any:
    """The value :func:`encode` wrote.

    Raises:
        NotStorable: the named class is not imported, or is not a model or dataclass.
    """
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if _TYPE not in data:
        return {k: decode(v) for k, v in data.items()}
    module, _, qualname = str(data[_TYPE]).partition(":")
    owner: Any = sys.modules.get(module)
    if owner is None:
        raise NotStorable(f"module {module} is not imported")
    for part in qualname.split("."):
        owner = getattr(owner, part, None)
    if isinstance(owner, type) and issubclass(owner, BaseModel):
        return owner.model_validate(data[_DATA])
    if isinstance(owner, type) and dataclasses.is_dataclass(owner):
        return TypeAdapter(owner).validate_python(data[_DATA])
    raise NotStorable(f"{data[_TYPE]} is not a model or dataclass")


def _name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def jsonable(value: Any) -> Any:
    """A model answer's ``data`` as JSON-ready data (a pydantic object dumped)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


_FIELDS: dict[type, tuple[tuple[str, ...], Callable[[Any], Any]]] = {}
_PLAIN = (str, int, float, bool, type(None), list, dict)


def event_data(event: Event, known: Mapping[str, Any]) -> dict[str, Any]:
    """The event's fields as JSON-ready data, but those in ``known``."""
    fields = _FIELDS.get(type(event))
    if fields is None:  # content is stored with the model calls
        names = tuple(f.name for f in dataclasses.fields(event)
                      if f.name != "run_id" and f.repr)
        fields = _FIELDS[type(event)] = (names, operator.attrgetter(*names))
    names, values = fields
    got = values(event)
    data = dict(zip(names, got if len(names) > 1 else (got,), strict=True))
    for name in known:
        del data[name]
    for name, value in data.items():
        if type(value) in _PLAIN:
            continue
        if isinstance(value, BaseModel):
            data[name] = value.model_dump(mode="json")
        elif hasattr(value, "to_dict"):
            data[name] = value.to_dict()
        elif isinstance(value, tuple):
            data[name] = list(value)
        elif not isinstance(value, _PLAIN):
            data[name] = repr(value)
    return data
