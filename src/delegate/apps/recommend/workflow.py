"""The KETL Mtn. Apparel product recommender.

A customer asks for advice. The orchestrator (a model) decides which topics the message
needs: product advice, the lifetime repair guarantee, the company. Each topic maps to workers
with known dependencies, so the plan is always well formed::

    products:   profile -> matching -> (alternatives, when the customer wants options)
    guarantee:  guarantee          company:  company

The brand-voice synthesizer writes the answer; the products it names come from the matching
result with their catalog prices. Use :func:`recommend`, or ``delegate recommend "..."``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from ...core.config import RunConfig
from ...core.events import Subscriber
from ...core.orchestrator import Orchestrator
from ...core.outcomes import PlanningReport
from ...core.plan import Plan, Task, validate_plan
from ...core.workers import WorkerRegistry
from ...durable.journal import Journal
from ...errors import PlanError, UsageError
from ...llm.base import Message, Model
from ...runner import check_objective, run
from .._common.settings import ENGINE_SETTINGS, workflow_config
from .catalog import Catalog, default_catalog, load_text
from .results import Recommendation, RecommendedProduct
from .voice import BrandVoiceSynthesizer
from .workers import (
    MODEL_WEIGHT,
    MatchResult,
    alternatives_worker,
    knowledge_worker,
    matching_worker,
    parse_price_ceiling,
    profile_worker,
)

__all__ = [
    "SETTINGS",
    "ROUTING_SCHEMA",
    "RoutingOrchestrator",
    "products_plan",
    "recommend",
    "topic_evidence",
]

#: The settings of a RunConfig the recommender applies (its router picks the plan: no
#: strategy or limits of a run's own).
SETTINGS = (*ENGINE_SETTINGS, "failure_policy")

TOPICS = ("products", "guarantee", "company")
ROUTING_SCHEMA: dict[str, Any] = {
    "title": "Routing",
    "type": "object",
    "properties": {
        "products": {"type": "boolean"},
        "guarantee": {"type": "boolean"},
        "company": {"type": "boolean"},
        "wants_alternatives": {"type": "boolean"},
    },
    "required": ["products", "guarantee", "company", "wants_alternatives"],
    "additionalProperties": False,
}
ROUTING_INSTRUCTIONS = """\
You route a customer's message for KETL Mtn. Apparel, an outdoor clothing shop. Say which \
topics the message needs:
- products: the customer wants clothing or gear advice or recommendations.
- guarantee: repairs, damage, wear and tear, warranty, the lifetime repair programme.
- company: who KETL Mtn. is, its story, values, sustainability, where things are made.
Set wants_alternatives to true when the customer asks for options or alternatives.
Answer with JSON only."""

# Words that are evidence of a topic (matched on whole words, lower case).
TOPIC_WORDS: dict[str, frozenset[str]] = {
    "guarantee": frozenset((
        "repair", "repaired", "repairs", "repairing", "fix", "fixed", "fixing", "broke",
        "broken", "torn", "tear", "tore", "ripped", "rip", "damage", "damaged", "warranty",
        "guarantee", "guaranteed", "lifetime", "defect", "defective", "worn", "mend", "mended",
    )),
    "company": frozenset((
        "company", "mission", "values", "sustainable", "sustainability", "founded", "founder",
        "founders", "story", "factory", "factories", "ethical", "ethically", "manufactured",
        "headquartered",
    )),
    "shopping": frozenset((
        "need", "needs", "looking", "recommend", "recommendation", "suggest", "buy", "buying",
        "want", "wanting", "gift", "options", "alternatives", "shopping", "cheap", "budget",
        "wear", "outfit", "pack", "packing",
    )),
}
_WORD = re.compile(r"[a-z']+")


def topic_evidence(text: str, catalog: Catalog | None = None) -> dict[str, list[str]]:
    """The words of ``text`` that point at each topic (a stated price ceiling counts for
    shopping, and a catalog match is recorded too). Empty lists are left out."""
    words = set(_WORD.findall(text.lower()))
    found = {topic: sorted(words & vocab) for topic, vocab in TOPIC_WORDS.items()}
    if parse_price_ceiling(text) is not None:
        found["shopping"].append("(price ceiling)")
    if catalog is not None and catalog.search(text, k=1):
        found["catalog"] = ["(catalog match)"]
    return {topic: hits for topic, hits in found.items() if hits}


def products_plan(alternatives: bool = False) -> Plan:
    """Profile, then matching, then (optionally) alternatives."""
    tasks = [
        Task(id="profile", worker="profile", instruction="Describe the customer."),
        Task(id="matching", worker="matching", depends_on=("profile",),
             instruction="Find the best products in the whole catalog."),
    ]
    if alternatives:
        tasks.append(Task(id="alternatives", worker="alternatives", depends_on=("matching",),
                          instruction="Suggest other products worth a look."))
    return Plan(tasks=tuple(tasks))


class RoutingOrchestrator(Orchestrator):
    """Plans by choosing topics; the app knows how each topic's workers depend on each other.

    Args:
        mode: ``model`` (the model always chooses), ``rules`` (the words of the request
            decide) or ``hybrid`` (the words decide when they point somewhere; the model
            chooses when they do not). The planning report says which decided and why.
        catalog: lets the rules count words the catalog knows as evidence for products.
        **options: as for :class:`Orchestrator`.

    A small model cannot be trusted to draw a graph, and the embedded 135M-parameter one
    routes little better than chance (measured on the evaluation set), so ``hybrid`` is the
    default: clear evidence in the request decides, and the model handles the rest under a
    grammar, with the usual repair and fallback rules.
    """

    def __init__(self, mode: str = "hybrid", catalog: Catalog | None = None,
                 **options: Any) -> None:
        if mode not in ("model", "rules", "hybrid"):
            raise ValueError(f"unknown routing mode {mode!r}")
        options.setdefault("max_tokens", 80)
        super().__init__(**options)
        self.mode = mode
        self.catalog = catalog

    def schema(self, workers: WorkerRegistry) -> dict[str, Any]:
        return ROUTING_SCHEMA

    def messages(self, objective: str, workers: WorkerRegistry) -> list[Message]:
        return [Message.system(ROUTING_INSTRUCTIONS), Message.user(objective)]

    def to_plan(self, draft: Any, workers: WorkerRegistry) -> Plan:
        topics = [t for t in TOPICS if draft.get(t)]
        if not topics:
            raise PlanError(["choose at least one topic"])
        tasks: list[Task] = []
        if "products" in topics:
            tasks += products_plan(bool(draft.get("wants_alternatives"))).tasks
        for topic in ("guarantee", "company"):
            if topic in topics:
                tasks.append(Task(id=topic, worker=topic,
                                  instruction=f"Answer the customer's question about the {topic}."))
        return validate_plan(Plan(tasks=tuple(tasks)), workers, self.limits)

    async def plan(self, objective, workers, model, *, fallback=None, sleep=None):
        if self.mode != "model":
            evidence = topic_evidence(objective, self.catalog)
            draft = self._decide(evidence)
            if draft is not None or self.mode == "rules":
                draft = draft or {"products": True}
                reason = "; ".join(f"{t}: {', '.join(w)}" for t, w in evidence.items())
                return self.to_plan(draft, workers), PlanningReport(
                    source="rules", reason=reason or "no evidence; products by default")
        return await super().plan(objective, workers, model, fallback=fallback, sleep=sleep)

    @staticmethod
    def _decide(evidence: dict[str, list[str]]) -> dict[str, bool] | None:
        facts = {t: t in evidence for t in ("guarantee", "company")}
        shopping = "shopping" in evidence
        products = shopping or ("catalog" in evidence and not any(facts.values()))
        if not (products or any(facts.values())):
            return None
        alternatives = bool({"options", "alternatives"} & set(evidence.get("shopping", ())))
        return {"products": products, **facts, "wants_alternatives": alternatives}


async def recommend(
    query: str,
    *,
    catalog: Catalog | None = None,
    brand_voice: str | None = None,
    model: Model | str | None = None,
    top_k: int = 3,
    max_price: float | None = None,
    config: RunConfig | None = None,
    routing: str = "hybrid",
    model_weight: float = MODEL_WEIGHT,
    subscribers: Iterable[Subscriber] = (),
    journal: Journal | None = None,
    on_interrupt: Any = None,
    **settings: Any,
) -> Recommendation:
    """Answer a customer's request with products from ``catalog`` in the brand's voice.

    Args:
        query: the customer's message.
        catalog: the products (default: the shipped KETL Mtn. catalog).
        brand_voice: the voice guide text (default: KETL Mtn.'s).
        model: ``provider:model`` or a :class:`Model` (default: ``local:default``).
        top_k: how many products to recommend for a product type or an open request; a
            kit gets one product of each kind it needs (at most
            :data:`~delegate.apps.recommend.workers.KIT_MAX`).
        max_price: a price ceiling; by default the one the query states, if any.
        config: the run's settings (:data:`SETTINGS` apply).
        routing: how the plan is chosen; see :class:`RoutingOrchestrator`.
        model_weight: weight of the model's ranking against retrieval's (see
            :data:`~delegate.apps.recommend.workers.MODEL_WEIGHT`).
        subscribers: event subscribers (progress display).

    Raises:
        UsageError: an empty or oversized query, a bad ``top_k``, a bad model name.
    """
    cfg = workflow_config(config, settings, workflow="recommend", supported=SETTINGS,
                          caller="recommend")
    query = check_objective(query, what="query")
    if not 1 <= top_k <= 20:
        raise UsageError("top_k must be between 1 and 20")
    catalog = catalog or default_catalog()
    ceiling = max_price if max_price is not None else parse_price_ceiling(query)
    voice = BrandVoiceSynthesizer(brand_voice or load_text("brand_voice.md"), catalog)
    workers = [
        profile_worker(ceiling),
        matching_worker(catalog, top_k=top_k, max_price=ceiling, model_weight=model_weight),
        alternatives_worker(catalog),
        knowledge_worker("guarantee", "Answers questions about the lifetime repair guarantee.",
                         load_text("guarantee.md")),
        knowledge_worker("company", "Answers questions about the company and its values.",
                         load_text("company.md")),
    ]
    result = await run(
        query, workers=workers, model=model, orchestrator=RoutingOrchestrator(routing, catalog),
        fallback_plan=products_plan(), synthesizer=voice,
        config=cfg, subscribers=subscribers, journal=journal, on_interrupt=on_interrupt,
    )
    outputs = result.outputs
    matching: MatchResult | None = outputs.get("matching")
    notes = list(voice.notes)
    if matching is not None:
        read = ([f"the request reads as {matching.need.kind}: {matching.need.evidence}"]
                if matching.need else [])
        notes += [f"matching: {line}" for line in (*read, matching.note, *matching.replaced)
                  if line]
    return Recommendation(
        query=query,
        products=_products(matching.matches if matching else ()),
        alternatives=_products(outputs.get("alternatives") or ()),
        text=result.text,
        result=result,
        max_price=ceiling,
        notes=tuple(notes),
        opening=voice.opening,
        closing=voice.closing,
        voice=voice.voice,
        voice_examples=tuple(voice.examples),
    )


def _products(matches: Sequence[Any]) -> tuple[RecommendedProduct, ...]:
    return tuple(
        RecommendedProduct(m.product.id, m.product.name, m.product.price, m.reason)
        for m in matches
    )
