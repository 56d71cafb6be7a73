"""Decoding against repetition on the embedded model: which sampler settings make the sections a
blog writer asks SmolLM2-135M for readable and not repetitive?

    python bench/decoding.py [--concurrency 2] [--max-tokens 260] [--note TEXT]

Each of eight section-writing prompts, shaped like the blog writer's (its system message, then
"Blog post about: <topic>." and "Your task: Write the section ... Cover: a; b; c."), is
answered by ``local:default`` at temperature 0 under each setting of :data:`SETTINGS`, and
every answer is scored with the content evaluation's own checks
(:mod:`delegate.apps._common.checks`). The prompts are dealt out to ``--concurrency`` lanes,
each a model of one instance that answers every setting for a prompt before the next prompt,
so that load on the machine falls on every setting alike and each measured call finds the
same state (see :func:`measure`); seconds per call are measured with that many lanes running
at once. Writes ``bench/results/decoding.md`` and ``.json`` (every answer in full, with its
scores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import BENCH_DIR, machine, markdown_table

from delegate.apps._common.checks import (
    distinct_ngram_ratio,
    is_cut_off,
    is_empty,
    repeated_line_ratio,
)
from delegate.llm import Message, ModelSettings
from delegate.llm.local import LocalModel, default_model_path

SYSTEM = (
    "You write one section of a blog post: friendly, concrete and practical. Cover the key "
    "points you are given, stay close to the word target, and do not repeat what earlier "
    "sections said. Write only the section's text (paragraphs or short lists), without its "
    "heading."
)

# (id, topic, heading, key points): topics from the content evaluation's objectives
PROMPTS: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("b01", "Write a short guide to choosing trail-running shoes", "Fit and sizing",
     ("try shoes on late in the day", "leave a thumb's width at the toe",
      "check that the heel does not slip")),
    ("b02", "How to brew pour-over coffee at home", "Grind and water",
     ("a medium-fine grind", "water just off the boil", "about 1 gram of coffee to 16 of water")),
    ("b03", "An explainer on how public-key cryptography keeps web traffic private",
     "Two keys, one lock", ("a public key anyone may use", "a private key only its owner holds",
                            "what one key locks only the other opens")),
    ("b04", "Five habits that help remote teams communicate", "Write decisions down",
     ("a shared decision log", "short written updates", "one owner for each task")),
    ("b05", "A beginner's tutorial on growing tomatoes on a balcony", "Pots and soil",
     ("pots of at least 20 litres", "drainage holes", "compost-rich potting mix")),
    ("g02", "Compare renting and buying a home for a young couple", "The costs of buying",
     ("deposit and fees", "mortgage interest", "repairs and upkeep")),
    ("g04", "Summarise how vaccines train the immune system", "How the body remembers",
     ("antigens", "memory cells", "a faster response the second time")),
    ("p03", "Organise a one-day community running race for 300 runners", "Volunteers",
     ("marshals at every turn", "a water station every 3 km", "a briefing the evening before")),
]

# name -> settings; repeat_penalty 1.0 is "off", 1.1 is the provider's default for text
SETTINGS: dict[str, ModelSettings] = {
    "none": ModelSettings(repeat_penalty=1.0),
    "repeat 1.1 (today)": ModelSettings(repeat_penalty=1.1),
    "repeat 1.3": ModelSettings(repeat_penalty=1.3),
    "frequency 0.5": ModelSettings(repeat_penalty=1.0, frequency_penalty=0.5),
    "presence 0.5": ModelSettings(repeat_penalty=1.0, presence_penalty=0.5),
    "ngram 4 + repeat 1.1": ModelSettings(repeat_penalty=1.1, no_repeat_ngram=4),
    "ngram 3 + repeat 1.1": ModelSettings(repeat_penalty=1.1, no_repeat_ngram=3),
    "ngram 4 + presence 0.5": ModelSettings(repeat_penalty=1.0, presence_penalty=0.5,
                                            no_repeat_ngram=4),
}
OTHER = [Message.system(SYSTEM), Message.user("Say hello.")]
# What llama-cpp-python exposes: no DRY (see bench/README.md, "Decoding against repetition").
EXCERPT_PROMPTS = ("b01", "g04")
EXCERPT_CHARS = 200
GOOD_REPEATED_LINES = 0.05
GOOD_DISTINCT_4GRAMS = 0.8


def messages_for(topic: str, heading: str, points: tuple[str, ...], words: int) -> list[Message]:
    return [Message.system(SYSTEM),
            Message.user(f"Blog post about: {topic}.\n\nYour task: Write the section "
                         f"\"{heading}\" (about {words} words). Cover: {'; '.join(points)}.")]


def score(text: str) -> dict[str, Any]:
    """The content evaluation's checks on one answer."""
    distinct = distinct_ngram_ratio(text, 4)
    return {"repeated_line_ratio": round(repeated_line_ratio(text), 4),
            "distinct_4gram_ratio": None if distinct is None else round(distinct, 4),
            "cut_off": is_cut_off(text), "empty": is_empty(text),
            "words": len(text.split())}


def good(record: dict[str, Any]) -> bool:
    return (record["repeated_line_ratio"] <= GOOD_REPEATED_LINES
            and (record["distinct_4gram_ratio"] or 0.0) >= GOOD_DISTINCT_4GRAMS
            and not record["empty"])


async def measure(lanes: int, prompts: list[Any], max_tokens: int,
                  words: int) -> list[dict[str, Any]]:
    """Every setting for each prompt, on ``lanes`` models of one instance each, the prompts
    dealt out among them. Before each measured call its lane answers :data:`OTHER` (the same
    system message, another user message), so that every measured call finds what a worker's
    call finds: the system message in the instance's cache, its own text to evaluate. At
    temperature 0 llama.cpp's answer depends on that state (a prompt evaluated in one batch and
    the same prompt found in the cache can give different first tokens)."""
    cores = os.cpu_count() or 1
    records: list[dict[str, Any]] = []

    async def lane(mine: list[Any]) -> None:
        model = LocalModel(default_model_path(), name="default", pool_size=1,
                           n_threads=max(1, cores // lanes))
        try:
            for pid, topic, heading, points in mine:
                messages = messages_for(topic, heading, points, words)
                for name, settings in SETTINGS.items():
                    await model.request(OTHER, settings=ModelSettings(max_tokens=2))
                    records.append(await one(model, pid, name, messages, settings.merged(
                        ModelSettings(max_tokens=max_tokens)), max_tokens))
        finally:
            await model.aclose()

    await asyncio.gather(*(lane(prompts[k::lanes]) for k in range(lanes)))
    order = {p[0]: i for i, p in enumerate(PROMPTS)}
    return sorted(records, key=lambda r: (order[r["prompt"]], list(SETTINGS).index(r["setting"])))


async def one(model: LocalModel, pid: str, name: str, messages: list[Message],
              settings: ModelSettings, max_tokens: int) -> dict[str, Any]:
    start = time.perf_counter()
    error, text, tokens = "", "", 0
    try:
        response = await model.request(messages, settings=settings)
        text, tokens = response.text, response.usage.completion_tokens
    except Exception as exc:  # an empty answer is a result here, not a crash
        error = f"{type(exc).__name__}: {exc}"
    record = {"prompt": pid, "setting": name, "seconds": round(time.perf_counter() - start, 2),
              "completion_tokens": tokens, "hit_max_tokens": tokens >= max_tokens,
              "error": error, **score(text), "text": text}
    print(f"{pid} {name:<24} {record['seconds']:6.1f}s rep={record['repeated_line_ratio']:.2f} "
          f"4g={record['distinct_4gram_ratio']}", flush=True)
    return record


def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for name in SETTINGS:
        mine = [r for r in records if r["setting"] == name]
        reps = [r["repeated_line_ratio"] for r in mine]
        grams = [r["distinct_4gram_ratio"] or 0.0 for r in mine]
        rows.append({
            "setting": name, "settings": _fields(name),
            "outputs": len(mine),
            "mean_repeated_line_ratio": round(statistics.fmean(reps), 3),
            "max_repeated_line_ratio": round(max(reps), 3),
            "mean_distinct_4gram_ratio": round(statistics.fmean(grams), 3),
            "min_distinct_4gram_ratio": round(min(grams), 3),
            "good_outputs": sum(good(r) for r in mine),
            "cut_off": sum(r["cut_off"] for r in mine),
            "empty_or_error": sum(r["empty"] or bool(r["error"]) for r in mine),
            "hit_max_tokens": sum(r["hit_max_tokens"] for r in mine),
            "mean_words": round(statistics.fmean(r["words"] for r in mine), 1),
            "mean_seconds": round(statistics.fmean(r["seconds"] for r in mine), 2),
            "mean_tokens": round(statistics.fmean(r["completion_tokens"] for r in mine), 1),
            "ms_per_token": round(1000 * sum(r["seconds"] for r in mine)
                                  / max(1, sum(r["completion_tokens"] for r in mine)), 1),
        })
    return rows


def _fields(name: str) -> dict[str, Any]:
    s = SETTINGS[name]
    return {k: getattr(s, k) for k in ("repeat_penalty", "frequency_penalty",
                                       "presence_penalty", "no_repeat_ngram")
            if getattr(s, k) is not None}


def render(meta: dict[str, Any], rows: list[dict[str, Any]], records: list[dict[str, Any]],
           note: str) -> str:
    m = meta["machine"]
    ids = list(dict.fromkeys(r["prompt"] for r in records))
    lines = [
        "# Decoding against repetition on the embedded model",
        "",
        f"- Command: `{m['command']}`",
        f"- Model: `local:default` (SmolLM2-135M-Instruct), llama-cpp-python "
        f"{m['llama_cpp_python']}, temperature 0, max_tokens {meta['max_tokens']}, "
        f"{meta['concurrency']} lanes of one instance each, every measured call finding the "
        f"system message in the instance's cache and evaluating its own text",
        f"- Machine: {m['cpu']}, {m['cores']} cores; {m['date']}; commit {m['git_commit']}; "
        f"load average at start {m['load_average']}; {meta['wall_seconds']:.0f} s in all",
        f"- Prompts: {len(ids)} blog-writer sections (about {meta['words']} words each); "
        f"good = repeated-line ratio <= {GOOD_REPEATED_LINES} and distinct 4-gram ratio >= "
        f"{GOOD_DISTINCT_4GRAMS}",
    ]
    if note:
        lines += [f"- Note: {note}"]
    lines += ["", markdown_table(
        ["setting", "rep. lines mean", "max", "4-grams mean", "min", "good", "cut off",
         "empty", "at max_tokens", "words", "s / call", "ms / token"],
        [[r["setting"], f"{r['mean_repeated_line_ratio']:.3f}",
          f"{r['max_repeated_line_ratio']:.3f}", f"{r['mean_distinct_4gram_ratio']:.3f}",
          f"{r['min_distinct_4gram_ratio']:.3f}", f"{r['good_outputs']}/{r['outputs']}",
          r["cut_off"], r["empty_or_error"], r["hit_max_tokens"], r["mean_words"],
          f"{r['mean_seconds']:.1f}", f"{r['ms_per_token']:.0f}"] for r in rows]), ""]
    lines += ["## Distinct 4-gram ratio / repeated-line ratio per prompt", ""]
    ids = list(dict.fromkeys(r["prompt"] for r in records))
    by = {(r["prompt"], r["setting"]): r for r in records}
    lines += [markdown_table(["setting", *ids], [
        [name, *(f"{(by[(i, name)]['distinct_4gram_ratio'] or 0):.2f} / "
                 f"{by[(i, name)]['repeated_line_ratio']:.2f}" for i in ids)]
        for name in SETTINGS]), ""]
    for pid in (p for p in EXCERPT_PROMPTS if p in ids):
        topic, heading = next((p[1], p[2]) for p in PROMPTS if p[0] == pid)
        lines += [f"## The first {EXCERPT_CHARS} characters: {pid}, \"{heading}\" ({topic})", ""]
        for name in SETTINGS:
            text = " ".join(by[(pid, name)]["text"][:EXCERPT_CHARS].split())
            lines += [f"- **{name}**: {text.replace('|', '/')}"]
        lines += [""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=260)
    parser.add_argument("--words", type=int, default=150)
    parser.add_argument("--note", default="")
    parser.add_argument("--prompts", type=int, default=len(PROMPTS), help="the first N only")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--render", type=Path, metavar="JSON",
                        help="rewrite the Markdown of an earlier run (and its note); run nothing")
    args = parser.parse_args()
    if args.render is not None:
        saved = json.loads(args.render.read_text())
        saved["note"] = args.note or saved.get("note", "")
        saved["settings"] = summarise(saved["outputs"])
        args.render.write_text(json.dumps(saved, indent=1) + "\n")
        markdown = render(saved, saved["settings"], saved["outputs"], saved["note"])
        args.render.with_suffix(".md").write_text(markdown + "\n")
        print(markdown)
        return
    meta: dict[str, Any] = {"machine": machine(), "max_tokens": args.max_tokens,
                            "concurrency": args.concurrency, "words": args.words}
    start = time.perf_counter()
    records = asyncio.run(measure(args.concurrency, PROMPTS[:args.prompts], args.max_tokens,
                                  args.words))
    meta["wall_seconds"] = round(time.perf_counter() - start, 1)
    rows = summarise(records)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "decoding.json").write_text(json.dumps(
        {**meta, "note": args.note, "settings": rows, "outputs": records}, indent=1) + "\n")
    markdown = render(meta, rows, records, args.note)
    (out / "decoding.md").write_text(markdown + "\n")
    print(markdown)


if __name__ == "__main__":
    main()
