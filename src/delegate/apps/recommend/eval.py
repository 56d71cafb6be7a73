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

The sets and their catalogs are read in :mod:`delegate.apps.recommend.eval_cases`; the rows,
their aggregates and the Markdown report are in :mod:`delegate.apps.recommend.eval_report`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol

from ...errors import DelegateError, UsageError
from .._common.evals import run_cases, write_report
from .catalog import Catalog
from .eval_cases import EvalCase, load_eval_set, naive_prompt, shop_catalog
from .eval_report import CaseResult, EvalReport
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


class RecommendFn(Protocol):
    """``await fn(query, max_price=...)`` returns a :class:`Recommendation`."""

    def __call__(
        self, query: str, *, max_price: float | None = None
    ) -> Awaitable[Recommendation]: ...


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
