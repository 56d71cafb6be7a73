"""The scripted model's default answers validate against the schemas the library uses."""

import asyncio

from delegate import ScriptedModel
from delegate.core.orchestrator import draft_schema
from delegate.core.strategies import extension_schema
from delegate.llm import Message


def test_default_answers_fit_the_planning_and_extension_schemas():
    model = ScriptedModel()
    for schema in (draft_schema(["a", "b"], 3), extension_schema(["a"], ["t1"], ["t2"])):
        response = asyncio.run(model.request([Message.user("plan")], output=schema))
        assert response.data is not None
