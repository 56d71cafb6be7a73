"""The model layer: one interface, one module per provider, chosen by ``provider:model``."""

from .base import Message, Model, ModelResponse, ModelSettings, OutputType, Usage, WrapperModel
from .guard import allow_model_requests, set_model_requests
from .registry import DEFAULT_MODEL, PROVIDERS, get_model, parse_model_spec
from .scripted import Scripted, ScriptedCall, ScriptedModel

__all__ = [
    "DEFAULT_MODEL",
    "PROVIDERS",
    "Message",
    "Model",
    "ModelResponse",
    "ModelSettings",
    "OutputType",
    "Scripted",
    "ScriptedCall",
    "ScriptedModel",
    "Usage",
    "WrapperModel",
    "allow_model_requests",
    "get_model",
    "parse_model_spec",
    "set_model_requests",
]
