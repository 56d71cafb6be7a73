"""Evaluating the KETL Mtn. recommender against the shipped evaluation set.

Each case of ``eval.json`` is a customer query, the product ids a shop assistant would suggest
and an optional price ceiling. :func:`evaluate` runs a recommender on every case and measures,
with ``k`` the cut-off (3 by default):

- **hit@k**: at least one expected id among the first ``k`` recommended ids.
- **precision@k**: expected ids among the first ``k`` recommended, divided by ``k`` (not by the
  number recommended: an answer that recommends one right product scores 1/3, so recommending
  fewer is never a way to score higher).
- **constraint satisfaction**: every recommended product is priced at or under the case's
  ceiling (a product with no known price fails it). Aggregated over finished cases that set a
  ceiling; a case without one is satisfied trivially and left out of the share.
- **grounding**: see :func:`grounding`; aggregated as total grounded / total named.
- **cost**: prompt and completion tokens, model calls and wall seconds per query, against the
  prompt tokens of the naive approach (:func:`naive_prompt`) counted with the same tokenizer.

A case whose recommend call raises a :class:`~delegate.errors.DelegateError` is recorded with
its message and ``finished=False``; it counts as a miss (0 hit, 0 precision) in the hit rate and
precision, which are over all cases, and is left out of every other aggregate.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from ...errors import DelegateError, UsageError
from .._common.evals import fmt, mean, run_cases, write_report
from .catalog import Catalog
from .grounding import grounding
from .need import ProductTypes
from .reasons import is_specific
from .results import Recommendation

__all__ = [
    "CaseResult",
    "EvalCase",
    "EvalReport",
    "evaluate",
    "grounding",
    "load_eval_set",
    "naive_prompt",
    "run_eval",
    "shop_catalog",
]

NAIVE_RECORDS = 20
"""Catalog records the naive approach pastes into its matching prompt."""



@dataclass(frozen=True)
class EvalCase:
    """One query of the evaluation set; ``kind`` is how a shop assistant reads it (``type``,
    ``kit`` or ``open``) and ``types`` the catalog categories that count as the type asked
    for (a type case) or that a kit draws on."""

    id: str
    query: str
    expected_ids: tuple[str, ...]
    max_price: float | None = None
    kind: str = "open"
    types: tuple[str, ...] = ()


SHOPS = ("ketlmtn", "unseen")
"""The shipped evaluation sets: KETL Mtn.'s, and a shop the recommender was not built for."""


def shop_catalog(shop: str = "ketlmtn") -> Catalog:
    """The catalog of a shipped evaluation set."""
    from .catalog import default_catalog, load_catalog

    if shop not in SHOPS:
        raise UsageError(f"unknown evaluation set {shop!r}; choose {' or '.join(SHOPS)}")
    if shop == "ketlmtn":
        return default_catalog()
    files = resources.files("delegate.apps.data").joinpath(shop)
    return load_catalog(json.loads(files.joinpath("products.json").read_text("utf-8")))


def load_eval_set(path: str | Path | None = None, *, shop: str = "ketlmtn") -> list[EvalCase]:
    """Read an evaluation set: a JSON list of ``{id, query, expected_ids, max_price}``, with
    ``kind`` and ``types`` where the case says how it reads.

    Args:
        path: a JSON file; by default the set shipped with delegate for ``shop``.
        shop: which shipped set (:data:`SHOPS`).

    Raises:
        UsageError: the file is not such a list, or the shop is unknown.
    """
    if path is None:
        if shop not in SHOPS:
            raise UsageError(f"unknown evaluation set {shop!r}; choose {' or '.join(SHOPS)}")
        files = resources.files("delegate.apps.data").joinpath(shop)
        text, where = files.joinpath("eval.json").read_text("utf-8"), "eval.json"
    else:
        text, where = Path(path).read_text("utf-8"), str(path)
    try:
        data = json.loads(text)
        cases = [
            EvalCase(
                id=str(item["id"]),
                query=str(item["query"]),
                expected_ids=tuple(str(x) for x in item["expected_ids"]),
                max_price=None if item.get("max_price") is None else float(item["max_price"]),
                kind=str(item.get("kind", "open")),
                types=tuple(str(t) for t in item.get("types", ())),
            )
            for item in data
        ]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise UsageError(f"{where} is not a list of evaluation cases: {exc!r}.") from None
    return cases


def naive_prompt(query: str, catalog: Catalog) -> str:
    """The prompt of the naive approach: one matching call given the query and the first
    :data:`NAIVE_RECORDS` catalog records, as they are in the source, as compact JSON (the
    system prompt such a call would also carry is not included, which favours the naive side)."""
    records = [p.record for p in catalog.products[:NAIVE_RECORDS]]
    return json.dumps({"query": query, "products": records})


# --- running ----------------------------------------------------------------------------------


class RecommendFn(Protocol):
    """``await fn(query, max_price=...)`` returns a :class:`Recommendation`."""

    def __call__(
        self, query: str, *, max_price: float | None = None
    ) -> Awaitable[Recommendation]: ...


@dataclass(frozen=True)
class CaseResult:
    """What one case measured. ``error`` is set (and ``finished`` False) when the call failed."""

    id: str
    query: str
    expected_ids: tuple[str, ...]
    max_price: float | None
    recommended_ids: tuple[str, ...] = ()
    hit: bool = False
    precision: float = 0.0
    within_ceiling: bool = False
    grounded: int = 0
    named: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_calls: int = 0
    wall_seconds: float = 0.0
    naive_prompt_tokens: int = 0
    kind: str = "open"
    type_precision: float | None = None
    kinds: int = 0
    near_duplicates: int = 0
    reasons: int = 0
    specific_reasons: int = 0
    voice_kept: bool | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        row = {k: getattr(self, k) for k in self.__dataclass_fields__}
        row.update(
            finished=self.finished,
            recommended_ids=list(self.recommended_ids),
            expected_ids=list(self.expected_ids),
            wall_seconds=round(self.wall_seconds, 3),
        )
        return row


@dataclass(frozen=True)
class EvalReport:
    """Per-case rows (in eval-set order) and their aggregates; see the module docstring.

    Attributes:
        rows: one per case.
        k: the cut-off of hit@k and precision@k.
        elapsed_seconds: wall time of the whole evaluation (cases may overlap).
        notes: anything a reader of the numbers should know (e.g. which tokenizer counted).
    """

    rows: tuple[CaseResult, ...]
    k: int = 3
    elapsed_seconds: float = 0.0
    notes: tuple[str, ...] = ()

    def with_notes(self, *notes: str) -> EvalReport:
        return replace(self, notes=self.notes + notes)

    @property
    def done(self) -> list[CaseResult]:
        """The finished rows."""
        return [r for r in self.rows if r.finished]

    @property
    def finished(self) -> int:
        return len(self.done)

    @property
    def hit_rate_at_k(self) -> float | None:
        """Share of all cases with a hit in the first ``k`` (a failed case is a miss)."""
        return mean([float(r.hit) for r in self.rows])

    @property
    def precision_at_k(self) -> float | None:
        """Mean precision@k over all cases (a failed case scores 0)."""
        return mean([r.precision for r in self.rows])

    @property
    def constraint_satisfaction(self) -> float | None:
        """Share of finished cases with a ceiling whose every product is within it."""
        return mean([float(r.within_ceiling) for r in self.done if r.max_price is not None])

    @property
    def grounding(self) -> float:
        """Grounded mentions / named mentions over finished cases; 1.0 when none is named."""
        named = sum(r.named for r in self.done)
        return sum(r.grounded for r in self.done) / named if named else 1.0

    @property
    def mean_prompt_tokens(self) -> float | None:
        return mean([r.prompt_tokens for r in self.done])

    @property
    def mean_naive_prompt_tokens(self) -> float | None:
        return mean([r.naive_prompt_tokens for r in self.done])

    @property
    def token_ratio(self) -> float | None:
        """Mean prompt tokens per query / mean naive prompt tokens (below 1: fewer tokens)."""
        ours, naive = self.mean_prompt_tokens, self.mean_naive_prompt_tokens
        return ours / naive if ours is not None and naive else None

    def aggregates(self) -> dict[str, Any]:
        """The aggregate numbers by name (hit rate and precision keyed with ``k``)."""
        walls = [r.wall_seconds for r in self.done]
        return {
            "cases": len(self.rows),
            "finished": self.finished,
            f"hit_rate_at_{self.k}": self.hit_rate_at_k,
            f"precision_at_{self.k}": self.precision_at_k,
            "constraint_satisfaction": self.constraint_satisfaction,
            "constraint_cases": sum(r.max_price is not None for r in self.done),
            "grounding": self.grounding,
            "grounded": sum(r.grounded for r in self.done),
            "named": sum(r.named for r in self.done),
            "mean_prompt_tokens": self.mean_prompt_tokens,
            "mean_completion_tokens": mean([r.completion_tokens for r in self.done]),
            "mean_naive_prompt_tokens": self.mean_naive_prompt_tokens,
            "token_ratio": self.token_ratio,
            "type_cases": len(typed := [r for r in self.done if r.type_precision is not None]),
            f"type_precision_at_{self.k}": mean([r.type_precision for r in typed]),
            "kit_cases": len(kits := [r for r in self.done if r.kind == "kit"]),
            "kits_spanning_2_kinds": sum(r.kinds >= 2 for r in kits),
            "kit_near_duplicates": sum(r.near_duplicates for r in kits),
            "near_duplicates": sum(r.near_duplicates for r in self.done),
            "specific_reason_rate": (sum(r.specific_reasons for r in self.done) / reasons
                                     if (reasons := sum(r.reasons for r in self.done))
                                     else None),
            "voice_kept_rate": mean([float(r.voice_kept) for r in self.done
                                     if r.voice_kept is not None]),
            "mean_wall_seconds": mean(walls),
            "median_wall_seconds": statistics.median(walls) if walls else None,
            "total_model_calls": sum(r.model_calls for r in self.done),
            "elapsed_seconds": self.elapsed_seconds,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "aggregates": self.aggregates(),
            "cases": [r.to_dict() for r in self.rows],
            "notes": list(self.notes),
        }

    def to_markdown(self, title: str, command: str, model_name: str) -> str:
        """A report: how it was run, a table of aggregates and one row per query."""
        k = self.k
        lines = [
            f"# {title}",
            "",
            f"- Command: `{command}`",
            f"- Model: `{model_name}`",
            f"- Cases: {len(self.rows)} ({self.finished} finished)",
        ]
        lines += [f"- Note: {note}" for note in self.notes]
        lines += ["", "| Metric | Value |", "|---|---|"]
        lines += [f"| {name} | {fmt(value)} |" for name, value in self.aggregates().items()]
        lines += [
            "",
            f"hit@{k}: an expected product among the first {k}. precision@{k}: "
            f"expected products among the first {k}, divided by {k}. Constraint "
            "satisfaction: over finished cases with a price ceiling. Grounding: product "
            "names written with their catalog price (or none), over all names and "
            "product-number references. token_ratio: mean prompt tokens per query over "
            "the naive single prompt's tokens. Type precision: for a case that asks for a "
            f"product type, the share of the first {k} recommended whose category is one the "
            "case counts as that type. A kit spans the kinds (categories) of its products; "
            "near-duplicates are pairs of recommended products of one kind whose names share "
            "at least half their words (two variants of one line). A reason is specific when "
            "it states a fact of its own product's record that the name does not already say. "
            "Voice kept: the opening and closing are the model's and pass the voice checks.",
            "",
            "## Per query",
            "",
            f"| id | kind | hit@{k} | P@{k} | type P | kinds | dups | specific | voice | "
            "ceiling | within | grounded/named | prompt tok | completion tok | calls | wall s | "
            "naive tok | recommended | expected | error |",
            "|" + "---|" * 20,
        ]
        for r in self.rows:
            cells = [
                r.id,
                r.kind,
                fmt(r.hit),
                fmt(r.precision),
                fmt(r.type_precision),
                r.kinds,
                r.near_duplicates,
                f"{r.specific_reasons}/{r.reasons}",
                fmt(r.voice_kept),
                fmt(r.max_price),
                fmt(r.within_ceiling),
                f"{r.grounded}/{r.named}",
                r.prompt_tokens,
                r.completion_tokens,
                r.model_calls,
                fmt(r.wall_seconds),
                r.naive_prompt_tokens,
                " ".join(r.recommended_ids) or "-",
                " ".join(r.expected_ids),
                (r.error or "").replace("|", "/"),
            ]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        return "\n".join(lines) + "\n"


def voice_kept(rec: Recommendation, catalog: Catalog) -> bool | None:
    """Whether the answer's opening and closing are the model's and pass
    :func:`~delegate.apps.recommend.voice.voice_problems` (checked again here); ``None`` for
    an answer without them."""
    from .voice import voice_problems

    if not rec.voice:
        return None
    shown = {p.id for p in rec.products + rec.alternatives}
    return rec.voice == "model" and not voice_problems(
        rec.opening, rec.closing, rec.query, catalog=catalog, allowed_ids=shown,
        examples=rec.voice_examples)


def score_case(
    case: EvalCase, rec: Recommendation, catalog: Catalog, *, k: int, naive_tokens: int,
    types: ProductTypes | None = None,
) -> CaseResult:
    """Measure one finished recommendation against its case."""
    ids = tuple(p.id for p in rec.products)
    relevant = sum(pid in case.expected_ids for pid in ids[:k])
    ceiling = case.max_price
    within = ceiling is None or all(
        p.price is not None and p.price <= ceiling for p in rec.products
    )
    grounded, named = grounding(rec.text, catalog)
    usage = rec.result.usage
    kinds = types or ProductTypes.of(catalog)
    first = [pid for pid in ids[:k] if pid in catalog]
    type_precision = None
    if case.kind == "type":
        wanted = {t.casefold() for t in case.types}
        type_precision = (sum(kinds.kind(pid) in wanted for pid in first) / len(first)
                          if first else 0.0)
    pairs = sum(kinds.same_line(a, b) for n, a in enumerate(ids) for b in ids[n + 1:])
    specific = sum(is_specific(p.reason, catalog.get(p.id)) for p in rec.products
                   if p.id in catalog)
    return CaseResult(
        case.id, case.query, case.expected_ids, ceiling, recommended_ids=ids, hit=relevant > 0,
        precision=relevant / k, within_ceiling=within, grounded=grounded, named=named,
        prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
        model_calls=usage.model_calls, wall_seconds=rec.result.wall_seconds,
        naive_prompt_tokens=naive_tokens, kind=case.kind, type_precision=type_precision,
        kinds=len({kinds.kind(pid) for pid in ids if pid in catalog}), near_duplicates=pairs,
        reasons=len(rec.products), specific_reasons=specific,
        voice_kept=voice_kept(rec, catalog),
    )  # fmt: skip


async def evaluate(
    recommend_fn: RecommendFn,
    cases: Sequence[EvalCase],
    catalog: Catalog,
    *,
    count_tokens: Callable[[str], int],
    concurrency: int = 1,
    top_k: int = 3,
    on_case: Callable[[CaseResult], None] | None = None,
) -> EvalReport:
    """Run ``recommend_fn`` on every case, at most ``concurrency`` at once.

    Args:
        recommend_fn: ``await recommend_fn(query, max_price=case.max_price)`` returns a
            :class:`Recommendation`.
        cases: the evaluation set.
        catalog: the catalog the recommender draws from (for grounding and prices).
        count_tokens: counts tokens of the naive prompt, with the recommender's tokenizer.
        concurrency: most cases running at once.
        top_k: the cut-off ``k`` of hit@k and precision@k.
        on_case: called with each row as its case ends (in completion order), for progress.

    Returns:
        The report, rows in the order of ``cases``.

    Raises:
        UsageError: ``concurrency`` or ``top_k`` is below 1. Any exception from
            ``recommend_fn`` other than a DelegateError propagates (other cases are cancelled).
    """
    if concurrency < 1 or top_k < 1:
        raise UsageError("concurrency and top_k must be at least 1.")
    types = ProductTypes.of(catalog)

    async def one(case: EvalCase) -> CaseResult:
        naive_tokens = count_tokens(naive_prompt(case.query, catalog))
        try:
            rec = await recommend_fn(case.query, max_price=case.max_price)
        except DelegateError as exc:
            error = f"{type(exc).__name__}: {exc}"
            return CaseResult(case.id, case.query, case.expected_ids, case.max_price,
                              naive_prompt_tokens=naive_tokens, kind=case.kind,
                              error=error)  # fmt: skip
        return score_case(case, rec, catalog, k=top_k, naive_tokens=naive_tokens, types=types)

    rows, elapsed = await run_cases(one, cases, concurrency=concurrency, on_case=on_case)
    return EvalReport(tuple(rows), k=top_k, elapsed_seconds=elapsed)


async def run_eval(
    model_spec: str | None,
    *,
    limit: int | None = None,
    concurrency: int = 2,
    out: Path | None = None,
    top_k: int = 3,
    command: str | None = None,
    shop: str = "ketlmtn",
) -> EvalReport:
    """Evaluate :func:`delegate.apps.recommend.recommend` on a shipped set with one model.

    Naive prompts are counted with the model's own tokenizer; for a model that cannot count
    tokens locally, with the embedded ``local:default`` tokenizer, and the report's notes say so.

    Args:
        model_spec: ``provider:model``, or None for ``DELEGATE_MODEL`` / ``local:default``.
        limit: evaluate only the first ``limit`` cases.
        concurrency: most cases running at once.
        out: a folder to write ``recommend_eval.json`` and ``recommend_eval.md`` into.
        top_k: products recommended per query, and the cut-off of hit@k and precision@k.
        command: the command line to print in the markdown report.
        shop: ``ketlmtn`` (the KETL Mtn. catalog and set, written to ``recommend_eval.*``)
            or ``unseen`` (another shop's catalog, written to ``recommend_eval_unseen.*``).
    """
    from ...llm import get_model
    from .workflow import recommend

    catalog = shop_catalog(shop)
    cases = load_eval_set(shop=shop)
    cases = cases[:limit] if limit is not None else cases
    model = get_model(model_spec)
    notes: list[str] = []
    try:
        try:
            model.count_tokens("probe")
            count_tokens = model.count_tokens
        except NotImplementedError:
            count_tokens = get_model("local:default").count_tokens
            notes.append(
                f"{model.name} cannot count tokens locally, so naive prompt tokens are "
                "counted with the local:default (SmolLM2) tokenizer."
            )

        async def recommend_fn(query: str, *, max_price: float | None = None) -> Recommendation:
            return await recommend(
                query, catalog=catalog, model=model, top_k=top_k, max_price=max_price
            )

        report = await evaluate(
            recommend_fn,
            cases,
            catalog,
            count_tokens=count_tokens,
            concurrency=concurrency,
            top_k=top_k,
        )
    finally:
        await model.aclose()
    report = report.with_notes(*notes)
    if out is not None:
        name = "recommend_eval" if shop == "ketlmtn" else f"recommend_eval_{shop}"
        write_report(out, name, model.name, report, "Recommender evaluation" + (
            "" if shop == "ketlmtn" else f" ({shop} shop)"),
                     command or f"run_eval({model_spec!r}, limit={limit!r}, top_k={top_k})")
    return report
