"""The blog workflow: outline first, sections by the outline, review of sections only."""

import asyncio
import json
import re

import pytest

from delegate import EventLog, ScriptedModel, UsageError
from delegate.apps.blog.workflow import (
    EXAMPLE_TOPIC,
    Outline,
    blog_reviewer,
    outline_schema,
    run_blog,
)
from delegate.core.events import (
    PlanCreated,
    RunFinished,
    RunStarted,
    TaskEnded,
    TaskReviewed,
    TaskRevised,
    TaskStarted,
)
from delegate.errors import ModelRequestError
from delegate.llm import Scripted, ScriptedCall

OUTLINE = {"title": "Trail running, step by step", "sections": [
    {"id": "s1", "heading": "Shoes and kit", "key_points": ["grip", "a light vest"],
     "word_target": 150, "depends_on": []},
    {"id": "s2", "heading": "Your first run", "key_points": ["go slow"], "word_target": 200,
     "depends_on": ["s1"]},
    {"id": "s3", "heading": "Staying safe", "key_points": ["tell someone your route"],
     "word_target": 120, "depends_on": []},
]}
HEADINGS = [s["heading"] for s in OUTLINE["sections"]]
SECTION = re.compile(r'Write the section "([^"]+)"')


def filler(heading: str, n: int) -> str:
    """Prose the reviewer's checks pass: the key points, then words of the section's own
    (so no 4-word phrase repeats), as many as the word target, in whole sentences."""
    entry = next((s for s in OUTLINE["sections"] if s["heading"] == heading),
                 {"key_points": ["more"], "word_target": 80})
    tag = "".join(w[0] for w in heading.lower().split()) + str(n)
    words = [f"{tag}w{i}" for i in range(entry["word_target"])]
    return " ".join(["It covers " + " and ".join(entry["key_points"]) + "."] + [
        " ".join(words[i:i + 10]) + "." for i in range(0, len(words), 10)])


def kind(call: ScriptedCall) -> str:
    if isinstance(call.output, dict):
        return call.output.get("title", "")
    if call.last_user.endswith("Write the introduction of the post."):
        return "editor"
    return "writer"


class Script:
    """Scripted blog model: the outline above; each writer answers "<heading> draft <n>";
    the reviewer rejects each heading in ``reject`` that many times, then passes it."""

    def __init__(self, reject=None, fail=(), gate=None, extension=None):
        self.reject = dict(reject or {})
        self.fail = set(fail)
        self.gate = gate
        self.extension = extension
        self.written: dict[str, int] = {}
        self.model = ScriptedModel(function=self.answer)

    def calls(self, what: str) -> list[ScriptedCall]:
        return [c for c in self.model.calls if kind(c) == what]

    def answer(self, call: ScriptedCall):
        what = kind(call)
        if what == "Outline":
            return OUTLINE
        if what == "PlanExtension":
            return self.extension
        if what == "editor":
            return "## Introduction\nAn intro to trail running."
        heading = SECTION.search(call.last_user)
        heading = heading.group(1) if heading else call.last_user.splitlines()[-1][:30]
        if what == "Verdict":
            if self.reject.get(heading, 0) > 0:
                self.reject[heading] -= 1
                return {"cohesion": 4, "coverage": 2, "tone": 4,
                        "notes": f"{heading} misses a key point"}
            return {"cohesion": 4, "coverage": 5, "tone": 4, "notes": "good"}
        if heading in self.fail:
            return ModelRequestError(f"{heading} refused", status=400)
        self.written[heading] = self.written.get(heading, 0) + 1
        n = self.written[heading]
        draft = f"{heading} draft {n}. {filler(heading, n)}"
        return self.gate(heading, draft) if self.gate else f"### {heading}\n{draft}"


def go(script: Script, **options):
    events = EventLog()
    result = asyncio.run(run_blog(EXAMPLE_TOPIC, model=script.model, subscribers=[events],
                                  **options))
    return result, events


def test_the_post_follows_its_outline():
    script = Script()
    result, events = go(script)
    md = result.markdown
    assert md.startswith("# Trail running, step by step\n\nAn intro to trail running.\n\n")
    assert [line[3:] for line in md.splitlines() if line.startswith("## ")] == HEADINGS
    assert "Shoes and kit draft 1" in md.split("## Your first run")[0]  # under its heading
    post = result.data
    assert [(s.id, s.heading) for s in post.sections] == [("s1", HEADINGS[0]),
                                                          ("s2", HEADINGS[1]),
                                                          ("s3", HEADINGS[2])]
    assert post.sections[0].text == f"Shoes and kit draft 1. {filler('Shoes and kit', 1)}"
    assert post.sections[0].word_count == 5 + 7 + 150  # its own heading was dropped
    assert result.title == OUTLINE["title"] and result.run.status == "succeeded"
    versions = [v.to_dict() for v in result.run.plan_versions]
    assert [(v["version"], v["tasks"]) for v in versions] == [
        (1, ["outline"]), (2, ["outline", "s1", "s2", "s3", "editor"])]
    plan = result.run.plan
    assert plan.task("s2").depends_on == ("outline", "s1")
    assert plan.task("editor").depends_on == ("outline", "s1", "s2", "s3")
    # the outline ran once, every task ended once, the run was framed once
    assert len(script.calls("Outline")) == 1
    assert [e.task_id for e in events.of(TaskStarted)].count("outline") == 1
    assert sorted(e.task_id for e in events.of(TaskEnded)) == sorted(plan.ids)
    assert len(events.of(RunStarted)) == len(events.of(RunFinished)) == 1
    assert [e.plan.version for e in events.of(PlanCreated)] == [1, 2]
    assert events.of(RunFinished)[0].result.text == md


def test_a_section_receives_the_text_of_the_sections_it_depends_on():
    script = Script()
    go(script)
    prompts = {SECTION.search(c.last_user).group(1): c.last_user for c in script.calls("writer")}
    assert "Shoes and kit draft 1" in prompts["Your first run"]
    assert "Staying safe draft" not in prompts["Your first run"]
    assert "draft" not in prompts["Shoes and kit"]  # independent: no other section's text
    # its own heading and key points first, the other headings, last its heading again
    assert prompts["Shoes and kit"].startswith(
        'Write the section "Shoes and kit" (about 150 words). Cover: grip; a light vest.')
    assert ('It is part of a blog post titled "Trail running, step by step"; leave "Your '
            'first run" and "Staying safe" to their own sections.') in prompts["Shoes and kit"]
    assert prompts["Shoes and kit"].endswith('Now write the text of the section "Shoes and kit".')
    editor = script.calls("editor")[0].last_user
    assert all(f"{h} draft 1" in editor for h in HEADINGS)
    assert ('has the sections "Shoes and kit", "Your first run", "Staying safe".') in editor


def test_independent_sections_run_at_the_same_time():
    started: dict[str, asyncio.Event] = {}

    async def meet(heading, draft):
        # s1 and s3 depend on nothing but the outline: each waits until the other started
        if heading in ("Shoes and kit", "Staying safe"):
            started.setdefault(heading, asyncio.Event()).set()
            other = "Staying safe" if heading == "Shoes and kit" else "Shoes and kit"
            await asyncio.wait_for(started.setdefault(other, asyncio.Event()).wait(), 5)
        return draft

    result, events = go(Script(gate=meet))
    assert result.run.status == "succeeded"
    order = [(type(e).__name__, e.task_id) for e in events.events
             if isinstance(e, TaskStarted | TaskEnded) and e.task_id in ("s1", "s3")]
    assert {o[0] for o in order[:2]} == {"TaskStarted"}  # both started before either ended


def test_a_rejected_section_is_rewritten_exactly_once():
    def first_repeats(heading, draft):  # the checks and the model both fault the first draft
        if draft.startswith("Your first run draft 1"):
            return "Your first run draft 1.\n" + "Go slow.\n" * 3
        return draft

    script = Script(reject={"Your first run": 1}, gate=first_repeats)
    result, events = go(script, reviewer=blog_reviewer(model_verdict=True))
    assert script.written == {"Shoes and kit": 1, "Your first run": 2, "Staying safe": 1}
    assert [e.task_id for e in events.of(TaskRevised)] == ["s2"]
    rounds = [(r.task_id, r.round, r.passed) for r in result.run.reviews]
    assert rounds == [("s1", 1, True), ("s2", 1, False), ("s3", 1, True), ("s2", 2, True)]
    assert {e.task_id for e in events.of(TaskReviewed)} == {"s1", "s2", "s3"}  # no outline
    assert result.run.reviews[1].scores == {"cohesion": 4, "coverage": 2, "tone": 4}
    rewrite = [c for c in script.calls("writer") if "Mind this: " in c.last_user]
    assert len(rewrite) == 1 and "Your first run misses a key point" in rewrite[0].last_user
    assert "Your first run draft 1" not in rewrite[0].last_user  # a small model copies text
    assert "lines 3-4 repeat line 2 ('Go slow.')" in rewrite[0].last_user  # checks first
    assert result.run.reviews[1].problems[0] == "lines 3-4 repeat line 2 ('Go slow.')"
    assert "Your first run draft 2" in result.markdown
    assert "Your first run draft 1" not in result.markdown
    # the editor ran after the review and read the rewritten section
    assert "Your first run draft 2" in script.calls("editor")[0].last_user


def test_a_section_is_capped_near_its_word_target_and_ends_on_a_whole_sentence():
    def cut_off(heading, draft):
        if heading != "Staying safe":
            return draft
        return lambda call: Scripted(
            f"{filler(heading, 1)} Tell someone your route. Carry water. Wear a he",
            completion_tokens=call.settings.max_tokens)

    script = Script(gate=cut_off)
    result, _ = go(script)
    caps = {SECTION.search(c.last_user).group(1): c.settings.max_tokens
            for c in script.calls("writer")}
    assert caps == {"Shoes and kit": 265, "Your first run": 340, "Staying safe": 220}
    assert result.data.sections[2].text.endswith("Tell someone your route. Carry water.")


def test_without_a_reviewer_nothing_is_reviewed():
    script = Script()
    result, _ = go(script, reviewer=False)
    assert script.calls("Verdict") == [] and result.run.reviews == ()


def test_cancelling_the_run_ends_its_event_stream():
    events = EventLog()

    async def main():
        never = asyncio.Event()

        async def hang(heading, draft):
            await never.wait()

        script = Script(gate=hang)
        run = asyncio.ensure_future(run_blog(EXAMPLE_TOPIC, model=script.model,
                                             subscribers=[events]))
        while len(script.calls("writer")) < 2:  # s1 and s3 are under way; s2 waits for s1
            await asyncio.sleep(0)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run

    asyncio.run(main())
    [finished] = events.of(RunFinished)
    status = {o.task_id: o.status for o in finished.result.outcomes}
    assert finished.result.status == "cancelled"
    assert status == {"outline": "succeeded", "s1": "cancelled", "s2": "cancelled",
                      "s3": "cancelled", "editor": "cancelled"}
    assert sorted(e.task_id for e in events.of(TaskEnded)) == sorted(status)  # each once


def test_a_failed_outline_ends_the_run_honestly():
    model = ScriptedModel(function=lambda call: ModelRequestError("refused", status=400))
    result = asyncio.run(run_blog(EXAMPLE_TOPIC, model=model))
    assert result.run.status == "failed" and result.run.plan.ids == ("outline",)
    assert "could not be outlined" in result.markdown and len(model.calls) == 1


def test_hybrid_makes_up_for_a_failed_section():
    extension = {"reason": "cover safety another way", "tasks": [
        {"id": "t5", "worker": "writer", "instruction": "Write about trail safety basics.",
         "depends_on": ["outline"]}]}
    script = Script(fail={"Staying safe"}, extension=extension)
    result, _ = go(script, strategy="hybrid")
    status = {o.task_id: o.status for o in result.run.outcomes}
    assert status == {"outline": "succeeded", "s1": "succeeded", "s2": "succeeded",
                      "s3": "failed", "t5": "succeeded", "editor": "succeeded"}
    assert result.run.plan.task("editor").depends_on == ("outline", "s1", "s2", "t5")
    assert [v.change for v in result.run.plan_versions][-1] == "added t5"
    assert "*This section was not written: ModelRequestError" in result.markdown
    assert "## Write about trail safety basics" in result.markdown


def test_the_outline_schema_admits_only_well_formed_outlines():
    schema = outline_schema(3)
    shapes = schema["properties"]["sections"]["anyOf"]
    assert [s["maxItems"] for s in shapes] == [1, 2, 3]
    third = shapes[2]["prefixItems"][2]["properties"]
    assert third["id"] == {"const": "s3"}
    assert third["depends_on"]["items"]["enum"] == ["s1", "s2"]
    assert shapes[2]["prefixItems"][0]["properties"]["depends_on"] == {"const": []}
    with pytest.raises(ValueError, match="earlier sections"):
        Outline.model_validate({"title": "t", "sections": [
            {"id": "s1", "heading": "h", "key_points": ["p"], "word_target": 100,
             "depends_on": ["s2"]}]})

    from llama_cpp.llama_grammar import json_schema_to_gbnf

    assert '"\\"s3\\""' in json_schema_to_gbnf(json.dumps(schema))


@pytest.mark.parametrize("options", [{"max_sections": 0}, {"strategy": "bold"}])
def test_bad_options_are_usage_errors(options):
    with pytest.raises(UsageError):
        asyncio.run(run_blog(EXAMPLE_TOPIC, model=ScriptedModel([]), **options))
    with pytest.raises(UsageError):
        asyncio.run(run_blog("  ", model=ScriptedModel([])))


def test_a_subscriber_error_mid_run_cancels_the_sections_and_finishes_the_run_failed():
    events = EventLog()
    gone = []

    def store_fails(event):  # a run store that goes away once the sections are under way
        if isinstance(event, TaskEnded) and event.task_id == "s1":
            raise RuntimeError("the store went away")

    async def main():
        never = asyncio.Event()

        async def hang(heading, draft):
            try:
                await never.wait()
            except asyncio.CancelledError:
                gone.append(heading)
                raise

        def gate(heading, draft):  # s1 answers; s3 runs until it is cancelled
            return f"### {heading}\n{draft}" if heading == "Shoes and kit" else hang(
                heading, draft)

        script = Script(gate=gate)
        with pytest.raises(RuntimeError, match="went away"):
            await run_blog(EXAMPLE_TOPIC, model=script.model, subscribers=[events, store_fails])
        assert gone == ["Staying safe"]  # cancelled before the error reached the caller

    asyncio.run(main())
    [finished] = events.of(RunFinished)
    assert finished.result.status == "failed"
    assert "the store went away" in finished.result.error
    status = {o.task_id: o.status for o in finished.result.outcomes}
    assert status["editor"] == "cancelled" and status["outline"] == "succeeded"
    assert all(s in ("succeeded", "cancelled") for s in status.values())
