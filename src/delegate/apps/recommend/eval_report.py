"""The recommender evaluation's results: one row per case, their aggregates and the report.

:class:`CaseResult` is what one case measured; :class:`EvalReport` holds the rows in eval-set
order, aggregates them (the metrics are defined in :mod:`delegate.apps.recommend.eval`) and
renders them as JSON or as a Markdown table.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from typing import Any

from .._common.evals import fmt, mean

__all__ = ["CaseResult", "EvalReport"]


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
    """Per-case rows (in eval-set order) and their aggregates; the metrics are defined in
    :mod:`delegate.apps.recommend.eval`.

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
