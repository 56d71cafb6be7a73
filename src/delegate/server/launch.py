"""What the server runs: an API body checked into the same typed request the CLI stores
(:mod:`delegate.run_requests`), and that request run through the same library entry points as
``delegate run`` and ``delegate recommend`` (:func:`~delegate.apps.workflows.run_workflow`,
:func:`~delegate.apps.recommend.workflow.recommend`), on the server's one
:class:`~delegate.runtime.Runtime`, with a journal on the store.

What the server does not take from a client: a file to read. A request that names files (a
CLI run's ``--input``, ``--catalog``, ``--brand-voice``, ``--prices``) is refused here, so an
API client can never make the server read a path of its choosing; such a run is resumed with
``delegate runs resume`` on the machine that has the files.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..apps.workflows import WORKFLOWS
from ..core.config import RunConfig
from ..errors import UsageError
from ..limits.budget import Budget
from ..run_requests import RecommendRequest, RunRequest, parse_request

__all__ = ["SERVED", "RunBody", "check_model", "execute", "input_schema", "servable",
           "to_request"]

#: The workflows the server runs, and what each is for.
SERVED: dict[str, str] = {
    **{name: WORKFLOWS[name].summary for name in ("general", "blog", "report", "project")},
    "recommend": "KETL Mtn. Apparel's recommender: products for a customer's request, in the "
                 "brand's voice",
}

_Text = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Budgets(_Body):
    """What a run may spend; ``None`` is no limit."""

    tokens: Annotated[int, Field(ge=1, le=10**12)] | None = None
    usd: Annotated[float, Field(gt=0, le=1e9)] | None = None
    seconds: Annotated[float, Field(gt=0, le=1e8)] | None = None
    on_budget: Literal["finish", "cancel"] = "finish"


class ContentOptions(_Body):
    """The settings of a content workflow's run (``delegate run``'s flags)."""

    max_concurrency: Annotated[int, Field(ge=1, le=10_000)] = 4
    timeout: Annotated[float, Field(gt=0, le=1e7)] | None = None
    fail_fast: bool = False
    strategy: Literal["static", "dynamic", "hybrid"] = "static"
    approve_plan: bool = False


class RecommendOptions(_Body):
    """The settings of a recommendation (``delegate recommend``'s flags)."""

    top_k: Annotated[int, Field(ge=1, le=20)] = 3
    max_price: Annotated[float, Field(gt=0, le=1e9)] | None = None
    approve_plan: bool = False


_Model = Annotated[str, StringConstraints(min_length=1, max_length=300,
                                          pattern=r"^[A-Za-z0-9_.-]+:[^\x00-\x1f]*$")]


class RunBody(_Body):
    """The body of ``POST /api/runs``: a workflow, its objective (``query`` for recommend),
    the model, its options and budgets."""

    workflow: Literal["general", "blog", "report", "project", "recommend"]
    objective: _Text | None = None
    query: _Text | None = None
    model: _Model | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    budget: Budgets = Field(default_factory=Budgets)


def input_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of ``POST /api/runs``'s body for workflow ``name``."""
    options = RecommendOptions if name == "recommend" else ContentOptions
    text = "query" if name == "recommend" else "objective"
    return {
        "type": "object",
        "required": ["workflow", text],
        "additionalProperties": False,
        "properties": {
            "workflow": {"const": name},
            text: {"type": "string", "minLength": 1, "maxLength": 20_000,
                   "title": "Query" if text == "query" else "Objective"},
            "model": {"type": ["string", "null"], "title": "Model (provider:model)",
                      "default": None},
            "options": options.model_json_schema(),
            "budget": Budgets.model_json_schema(),
        },
    }


def to_request(body: RunBody) -> RunRequest | RecommendRequest:
    """The typed request ``body`` asks for, checked as the CLI checks its flags.

    Raises:
        UsageError: one line naming the problem (a missing objective, an option the workflow
            does not take, a setting it would not apply).
    """
    check_model(body.model)
    budget = body.budget.model_dump()
    common = {"model": body.model, "budget_tokens": budget["tokens"],
              "budget_usd": budget["usd"], "budget_seconds": budget["seconds"],
              "on_budget": budget["on_budget"]}
    if body.workflow == "recommend":
        if body.query is None or body.objective is not None:
            raise UsageError("the recommend workflow takes a 'query' (and no 'objective')")
        if not body.query.strip():
            raise UsageError("query: empty; say what the customer wants")
        options = _options(RecommendOptions, body.options)
        return RecommendRequest(command="recommend", query=body.query, **options, **common)
    if body.objective is None or body.query is not None:
        raise UsageError(f"the {body.workflow} workflow takes an 'objective' (and no 'query')")
    if not body.objective.strip():
        raise UsageError("objective: empty; say what you want")
    options = _options(ContentOptions, body.options)
    request = RunRequest(command="run", objective=body.objective, workflow=body.workflow,
                         **options, **common)
    ignored = _config(request).unsupported(WORKFLOWS[request.workflow].settings())
    if ignored:
        raise UsageError(f"the {request.workflow} workflow does not take: "
                         + ", ".join(_OPTION[k] for k in ignored))
    return request


def check_model(spec: str | None) -> None:
    """Refuse a model that names a file: a client may pick a provider's model
    (``openai:gpt-4o-mini``) or the embedded default, never a path on the server
    (``local:/path/model.gguf`` would have the server open any file it is given).

    Raises:
        UsageError: ``spec`` names a local file.
    """
    if spec is None:
        return
    provider, _, name = spec.partition(":")
    if provider.strip().lower() == "local" and name.strip() not in ("", "default"):
        raise UsageError(f"model {spec[:80]!r}: the server runs the embedded model as "
                         "local:default only; it does not load model files named by a client")


def servable(stored: Any, run_id: str = "") -> RunRequest | RecommendRequest:
    """The stored request of a run, if the server can run it again (to resume it).

    Raises:
        UsageError: it cannot be rebuilt, was stored with credentials redacted, or names
            files (see the module docstring).
    """
    request = parse_request(stored, run_id=run_id)
    of = f"run {run_id}" if run_id else "the run"
    if request.redacted:
        raise UsageError(f"{of} was started with credentials in a URL, which are never "
                         "stored; start it again")
    if isinstance(request, RunRequest):
        files = bool(request.inputs or request.prices)
    elif isinstance(request, RecommendRequest):
        files = bool(request.catalog or request.brand_voice or request.prices)
    else:
        raise UsageError(f"{of} is a 'delegate examples' run; resume it with delegate runs "
                         "resume")
    try:
        check_model(request.model)
    except UsageError as exc:
        raise UsageError(f"{of}: {exc}; resume it with delegate runs resume") from None
    if files or request.rate_limit:
        raise UsageError(f"{of} read files or set rate limits of its own on the machine that "
                         "started it; resume it there with delegate runs resume")
    return request


async def execute(request: RunRequest | RecommendRequest, *, runtime: Any, journal: Any,
                  subscribers: tuple[Any, ...] = ()) -> Any:
    """Run ``request`` to its end under ``journal`` (inside ``journal.running()``), on the
    models of ``runtime``; return the workflow's result. The journal's summary is the one
    the CLI stores."""
    model = runtime.model(request.model)
    budget = _budget(request)
    if isinstance(request, RecommendRequest):
        from ..apps.recommend.workflow import recommend

        rec = await recommend(request.query, model=model, top_k=request.top_k,
                              max_price=request.max_price, subscribers=subscribers,
                              journal=journal, config=RunConfig(
                                  budget=budget, approve_plan=request.approve_plan))
        journal.summary = rec.to_dict()
        return rec
    from ..apps.workflows import run_workflow

    result = await run_workflow(request.workflow, request.objective, model=model,
                                config=_config(request).replace(budget=budget),
                                subscribers=subscribers, journal=journal)
    journal.summary = result.summary()
    return result


def _options(kind: type[_Body], given: dict[str, Any]) -> dict[str, Any]:
    from pydantic import ValidationError

    try:
        return kind.model_validate(given).model_dump()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in ("options", *first["loc"]))
        raise UsageError(f"{where}: {first['msg']}") from None


def _config(request: RunRequest) -> RunConfig:
    return RunConfig(max_concurrency=request.max_concurrency, task_timeout=request.timeout,
                     failure_policy="fail_fast" if request.fail_fast else "continue",
                     strategy=request.strategy, approve_plan=request.approve_plan)


def _budget(request: RunRequest | RecommendRequest) -> Budget | None:
    if all(v is None for v in (request.budget_tokens, request.budget_usd,
                                request.budget_seconds)):
        return None
    return Budget(tokens=request.budget_tokens, usd=request.budget_usd,
                  seconds=request.budget_seconds, on_exceed=request.on_budget)


#: The option of the body that sets each RunConfig setting.
_OPTION = {"max_concurrency": "options.max_concurrency", "task_timeout": "options.timeout",
           "failure_policy": "options.fail_fast", "strategy": "options.strategy",
           "approve_plan": "options.approve_plan"}
