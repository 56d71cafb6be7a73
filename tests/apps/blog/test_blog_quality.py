"""The blog on a model that writes badly: degenerate outlines are repaired (asked again with
the problem named, then a recorded fallback), repetitive sections are named by the reviewer,
and a rewrite that is no better is discarded."""

import asyncio

from delegate import EventLog, ScriptedModel
from delegate.apps._common import checks, feedback
from delegate.apps.blog.workflow import run_blog
from delegate.core.events import TaskRevised
from delegate.llm import ScriptedCall

TOPIC = "Write a short guide to choosing trail-running shoes"


def outline(*headings, points=None):
    return {"title": "Trail shoes", "sections": [
        {"id": f"s{n}", "heading": h, "key_points": (points or {}).get(h, [f"point {n}"]),
         "word_target": 80, "depends_on": []} for n, h in enumerate(headings, 1)]}


DEGENERATE = outline(TOPIC, TOPIC, "Trail shoes",
                     points={TOPIC: ["grip on wet rock"], "Trail shoes": ["grip on wet rock"]})
GOOD = outline("Grip and lugs", "Fit and comfort", "Price and wear")


def prose(tag: str, points: str = "") -> str:
    words = [f"{tag}w{i}" for i in range(60)]
    return " ".join([f"It covers {points}." if points else "It covers the point."] + [
        " ".join(words[i:i + 10]) + "." for i in range(0, 60, 10)])


class Script:
    """Outlines from ``outlines`` in turn (the last one again after that); each section's
    drafts from ``drafts`` by heading (else clean prose); every verdict passes."""

    def __init__(self, outlines, drafts=None):
        self.outlines = list(outlines)
        self.drafts = drafts or {}
        self.written: dict[str, int] = {}
        self.model = ScriptedModel(function=self.answer)

    def answer(self, call: ScriptedCall):
        if isinstance(call.output, dict) and call.output.get("title") == "Outline":
            return self.outlines.pop(0) if len(self.outlines) > 1 else self.outlines[0]
        if isinstance(call.output, dict):
            return {"notes": "fine", "cohesion": 5, "coverage": 5, "tone": 5}
        if call.last_user.endswith("Write the introduction of the post."):
            return "This guide helps you choose trail shoes."
        heading = call.last_user.split('"')[1]
        n = self.written[heading] = self.written.get(heading, 0) + 1
        texts = self.drafts.get(heading)
        if texts:
            return texts[min(n, len(texts)) - 1]
        points = call.last_user.split("Cover: ")[1].split(".")[0].replace(";", " and")
        return prose("".join(w[0] for w in heading.split()).lower() + str(n), points)


def headings_of(markdown):
    title, _, sections = checks.split_sections(markdown)
    return title, [s.heading for s in sections]


def test_a_degenerate_outline_is_asked_for_again_with_the_problems_named():
    script = Script([DEGENERATE, GOOD])
    events = EventLog()
    result = asyncio.run(run_blog(TOPIC, model=script.model, subscribers=[events]))
    outline_calls = [c for c in script.model.calls
                     if isinstance(c.output, dict) and c.output.get("title") == "Outline"]
    assert len(outline_calls) == 2
    asked = outline_calls[1].last_user
    assert "heading 2 repeats an earlier heading" in asked
    assert "heading 1 equals the title or objective" in asked
    assert "section 3 repeats the key point 'grip on wet rock' of section 1" in asked
    assert headings_of(result.markdown)[1] == ["Grip and lugs", "Fit and comfort",
                                               "Price and wear"]
    [revised] = events.of(TaskRevised)
    assert (revised.task_id, revised.kept) == ("outline", True)
    assert not any("fallback" in n for n in result.run.notes)


def test_an_outline_still_degenerate_falls_back_to_headings_from_key_phrases_and_says_so():
    script = Script([DEGENERATE])  # asked again, the model gives the same outline
    result = asyncio.run(run_blog(TOPIC, model=script.model))
    title, headings = headings_of(result.markdown)
    found = checks.heading_problems(headings, title, TOPIC)
    assert (found.empty, found.duplicated, found.title_equal) == (0, 0, 0)
    assert headings == ["Grip on wet rock", "Choosing trail-running shoes", "Why it matters"]
    [note] = [n for n in result.run.notes if n.startswith("outline fallback")]
    assert "heading 2 repeats an earlier heading" in note
    assert "heading 2 'Write a short guide to choosing trail-running shoes' replaced by " \
        "'Choosing trail-running shoes'" in note
    assert "heading 3 'Trail shoes' replaced by 'Why it matters'" in note
    # the run records the outline the post was written from
    assert [s.heading for s in result.run.outputs["outline"].sections] == headings
    assert result.run.status == "succeeded"


def test_the_reviewer_names_the_repetition_and_keeps_the_better_of_two_drafts():
    looped = "Choose a good pair of running shoes.\n" * 4
    worse = "Shoes.\n" * 6
    script = Script([GOOD], drafts={"Fit and comfort": [looped, worse]})
    events = EventLog()
    result = asyncio.run(run_blog(TOPIC, model=script.model, subscribers=[events]))
    verdict = next(r for r in result.run.reviews if r.task_id == "s2")
    assert "lines 2-4 repeat line 1 ('Choose a good pair of running shoes.')" in verdict.problems
    assert any('"choose a good pair" appears 4 times' in p for p in verdict.problems)
    rewrite = next(c for c in script.model.calls
                   if c.output is None and "Mind this: " in c.last_user)
    assert "lines 2-4 repeat line 1" in rewrite.last_user
    assert script.written["Fit and comfort"] == 2  # no improvement: no second rewrite
    [revised] = events.of(TaskRevised)
    assert (revised.task_id, revised.kept) == ("s2", False)
    assert looped.strip() in result.markdown and "Shoes.\nShoes." not in result.markdown
    assert any(n.startswith("revision 1 of s2 discarded") for n in result.run.notes)


def test_lines_a_writer_copied_from_its_prompt_are_dropped():
    from delegate.apps._common.prose import drop_echo

    prompt = ('Write the section "Fit and comfort" (about 80 words). Cover: point 2.\n\n'
              'It is part of a blog post titled "Trail shoes"; leave "Grip and lugs" to '
              "their own sections.")
    answer = ('Here is the section "Fit and comfort":\n'
              'It is part of a blog post titled "Trail shoes" and more.\n'
              "A snug heel stops blisters.\nFit and comfort matter.")
    # the preamble and the echoed context go; a short line that shares words stays
    assert drop_echo(answer, prompt) == "A snug heel stops blisters.\nFit and comfort matter."
    echo = "Write the section \"Fit and comfort\" (about 80 words).\n" + prose("fc1")
    script = Script([GOOD], drafts={"Fit and comfort": [echo]})
    result = asyncio.run(run_blog(TOPIC, model=script.model))
    assert "about 80 words" not in result.markdown and "fc1w0" in result.markdown


def test_an_answer_that_was_all_echo_is_asked_for_once_more_with_the_task_alone():
    script = Script([GOOD])
    editor_calls = []
    base = script.answer

    def answer(call):
        if call.last_user.endswith("Write the introduction of the post."):
            editor_calls.append(call.last_user)
            if len(editor_calls) == 1:  # copies its prompt's first line back
                return call.last_user.splitlines()[2]
            return "Good shoes make trails fun. Here is how to pick them."
        return base(call)

    script.model = ScriptedModel(function=answer)
    result = asyncio.run(run_blog(TOPIC, model=script.model))
    assert editor_calls[1] == "Write the introduction of the post."
    assert result.markdown.startswith(
        "# Trail shoes\n\nGood shoes make trails fun. Here is how to pick them.\n")


def test_prose_calls_ask_for_the_no_repeat_ngram_ban_and_json_calls_do_not():
    from delegate.core.events import ModelCalled

    script = Script([GOOD])
    events = EventLog()
    asyncio.run(run_blog(TOPIC, model=script.model, subscribers=[events]))
    bans = {(c.output is None, c.settings.no_repeat_ngram) for c in script.model.calls}
    assert bans == {(True, 4), (False, None)}  # sections and intro: 4; outline, verdicts: none
    recorded = [e.settings.no_repeat_ngram for e in events.of(ModelCalled) if e.task_id == "s1"]
    assert recorded == [4]  # the call's record carries the setting it was made with


def test_the_outline_schema_asks_for_short_distinct_headings_and_key_points():
    from delegate.apps.blog.workflow import outline_schema

    section = outline_schema(2)["properties"]["sections"]["anyOf"][1]["prefixItems"][1]
    heading, points = section["properties"]["heading"], section["properties"]["key_points"]
    assert heading["maxLength"] == 60 and "not the title" in heading["description"]
    assert "different from every other heading" in heading["description"]
    assert "different from every other key point" in points["items"]["description"]


def test_a_rewrite_that_talks_about_its_own_writing_is_named_and_scores_lower():
    topic = "Grip matters on wet rock. Lugs bite into mud and keep you upright."
    meta = ("The rewritten version is more concise. The original text was written badly. "
            "Lugs bite into mud and keep you upright.")
    found = feedback.check_text(meta)
    assert found.problems == ("2 sentence(s) talk about the writing instead of the topic, "
                              "e.g. 'The rewritten version is more concise.'",)
    assert found.score < feedback.check_text(topic).score == 1.0


def test_a_list_asked_again_for_repeating_itself_is_told_of_its_copies_of_the_description():
    """Asked again because it repeats itself, a list is also told which items copy the
    project's description (a list that only copies it is kept: see
    tests/apps/project/test_workflow.py)."""
    from delegate.apps.project.workflow import EXAMPLE_RESOURCES, run_project

    description = "Launch a small online shop for hand-made hiking gear within 8 weeks"
    copied = {"requirements": [description, "Card payments work", "Card payments work"]}
    good = {"requirements": ["Catalogue of 20 products", "Card payments work"]}
    asked = []

    def answer(call):
        title = call.output.__name__ if isinstance(call.output, type) else (
            call.output or {}).get("title")
        if title == "Requirements":
            asked.append(call.last_user)
            return copied if len(asked) == 1 else good
        if title == "Phases":
            return {"phases": [{"name": "Build", "goal": "A working shop"},
                               {"name": "Launch", "goal": "First orders shipped"}]}
        if title == "Breakdown":
            return {"items": [{"id": f"w{n}", "name": f"Item {n}", "estimate_days": 1,
                               "depends_on": [], "skill": "design"} for n in (1, 2, 3)]}
        return "The shop opens after three days of work."

    result = asyncio.run(run_project(description, model=ScriptedModel(function=answer),
                                     resources=EXAMPLE_RESOURCES))
    assert len(asked) == 2 and "also appear in another section" in asked[1]
    assert result.data.requirements == good["requirements"]


def test_a_heading_that_is_the_start_of_a_long_title_counts_as_the_title():
    from delegate.apps.blog.outline import Outline, fallback_outline, outline_problems

    title = "How Public-Key Cryptography Keeps Web Traffic Private, for Readers"
    cut = outline(title[:40], "Keys and locks")
    cut["title"] = title
    mended, _ = fallback_outline(Outline.model_validate(cut), title)
    assert "heading 1 is the start of the title or topic" in outline_problems(
        Outline.model_validate(cut), title)[0]
    assert [s.heading for s in mended.sections] == ["Point 1", "Keys and locks"]


def test_the_general_answer_drops_the_result_headers_it_echoes():
    from delegate.apps.general import run_general

    def answer(call):
        if isinstance(call.output, dict):
            return {"tasks": [{"id": "t1", "worker": "researcher", "depends_on": [],
                               "instruction": "Collect the facts about tuples."}]}
        if "Results:" in call.last_user:  # the synthesizer copies the result's header
            return "### t1 (researcher): Collect the facts about tuples.\nTuples are fixed."
        return "Tuples cannot change after they are made."

    result = asyncio.run(run_general("Explain tuples", model=ScriptedModel(function=answer)))
    assert result.text == "Tuples are fixed."


def test_a_numbered_heading_repeats_the_same_heading_without_its_number():
    from delegate.apps._common.prose import drop_echo
    from delegate.apps.blog.outline import Outline, fallback_outline, outline_problems

    numbered = Outline.model_validate(outline("What to do?", "9. What to do?",
                                              points={"9. What to do?": ["easy runs"]}))
    assert outline_problems(numbered, TOPIC) == [
        "heading 2 repeats an earlier heading: 'What to do?'"]
    assert [s.heading for s in fallback_outline(numbered, TOPIC)[0].sections] == [
        "What to do?", "Easy runs"]
    assert drop_echo('Here is the section "What to do?" (about 120 words)\nStart small.',
                     "") == "Start small."


def test_the_general_answer_ends_in_a_whole_sentence_without_a_letters_sign_off():
    from delegate.apps.general import run_general
    from delegate.llm.scripted import Scripted

    def answer(endings):
        def step(call):
            if isinstance(call.output, dict):
                return {"tasks": [{"id": "t1", "worker": "researcher", "depends_on": [],
                                   "instruction": "Collect the facts about tuples."}]}
            if "Results:" in call.last_user:
                return endings
            return "Tuples cannot change after they are made."
        return step

    signed = "Tuples are fixed.\n\nI hope this helps.\n\nBest regards,\n[Your Name]"
    result = asyncio.run(run_general("Explain tuples",
                                     model=ScriptedModel(function=answer(signed))))
    assert result.text == "Tuples are fixed.\n\nI hope this helps."
    # stopped at the synthesizer's token cap: the fragment after the last sentence goes
    cut = Scripted("Tuples are fixed. Lists can grow. Use a tuple when the", completion_tokens=700)
    result = asyncio.run(run_general("Explain tuples", model=ScriptedModel(function=answer(cut))))
    assert result.text == "Tuples are fixed. Lists can grow."
    # the same words under the cap are the model's own ending, and stay
    whole = Scripted("Tuples are fixed. Lists can grow. Use a tuple when the", completion_tokens=9)
    result = asyncio.run(run_general("Explain tuples",
                                     model=ScriptedModel(function=answer(whole))))
    assert result.text.endswith("when the")


def test_an_outline_that_could_not_be_used_is_asked_for_again_with_the_error_named():
    from delegate.errors import OutputValidationError

    unusable = OutputValidationError("output cut off at max_tokens=880")
    script = Script([unusable, GOOD])
    result = asyncio.run(run_blog(TOPIC, model=script.model))
    outline_calls = [c for c in script.model.calls
                     if isinstance(c.output, dict) and c.output.get("title") == "Outline"]
    assert len(outline_calls) == 2
    assert "could not be used: output cut off at max_tokens=880" in outline_calls[1].last_user
    assert result.run.status == "succeeded"
    assert headings_of(result.markdown)[1] == ["Grip and lugs", "Fit and comfort",
                                               "Price and wear"]
    assert not any("fallback" in n for n in result.run.notes)


def test_an_outline_unusable_twice_gives_way_to_one_built_from_the_topic_and_the_notes_say_so():
    from delegate.errors import ModelRequestError, OutputValidationError

    unusable = OutputValidationError("output does not match the schema")
    script = Script([unusable, unusable])
    result = asyncio.run(run_blog(TOPIC, model=script.model))
    assert headings_of(result.markdown) == ("Choosing trail-running shoes",
                                            ["Why it matters", "How it works"])
    [note] = [n for n in result.run.notes if n.startswith("outline fallback")]
    assert "no usable outline twice: OutputValidationError: output does not match" in note
    assert "'Why it matters', 'How it works'" in note
    assert result.run.outcome("outline").ok
    assert all(result.run.outcome(s).ok for s in ("s1", "s2", "editor"))
    # a model that cannot be reached is not papered over: the post ends, saying why
    script = Script([ModelRequestError("connection refused")])
    result = asyncio.run(run_blog(TOPIC, model=script.model))
    assert result.run.status != "succeeded"
    assert "could not be outlined: " in result.markdown and "connection refused" in (
        result.markdown)
    assert not any(n.startswith("outline fallback") for n in result.run.notes)


def test_the_fallback_never_makes_a_heading_of_a_link_or_code():
    from delegate.apps.blog.outline import Outline, fallback_outline

    title = "An explainer on how public-key cryptography keeps web"
    bad = Outline.model_validate(outline(title, points={title: [
        "https://www.example.com/watch?v=1fYz", "{\"key\": 1}", "keys and locks"]}))
    bad.title = title
    mended, changes = fallback_outline(bad, title)
    assert [s.heading for s in mended.sections] == ["Keys and locks"]
    assert changes == [f"heading 1 {title!r} replaced by 'Keys and locks'"]
