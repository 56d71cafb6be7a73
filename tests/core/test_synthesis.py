"""The synthesizer on its own: what it is shown, what it writes without a model, its cap."""

import asyncio

from delegate import ModelSettings, ScriptedModel, Synthesizer
from delegate.core.outcomes import RunResult, TaskOutcome
from delegate.core.plan import Plan, Task
from delegate.llm import Scripted

PLAN = Plan(tasks=(Task(id="facts", worker="research", instruction="Find the facts."),
                   Task(id="draft", worker="writer", instruction="Write the draft.",
                        depends_on=("facts",)),
                   Task(id="check", worker="checker", instruction="Check the draft.")))


def result(*, budget_reached=None, ok=("facts", "draft", "check")):
    outcomes = []
    for task in PLAN.tasks:
        if task.id in ok:
            outcomes.append(TaskOutcome(task.id, task.worker, "succeeded", 1,
                                        output=f"{task.id} output"))
        else:
            outcomes.append(TaskOutcome(task.id, task.worker, "failed", 2,
                                        error="ModelRequestError: refused"))
    status = "succeeded" if len(ok) == len(PLAN.tasks) else "partial" if ok else "failed"
    return RunResult("r", PLAN, tuple(outcomes), status, budget_reached=budget_reached)


def test_the_prompt_holds_each_succeeded_result_in_plan_order_and_says_what_is_missing():
    messages = Synthesizer("Answer.").messages("the objective", result(ok=("facts", "check")))
    assert [m.role for m in messages] == ["system", "user"] and messages[0].content == "Answer."
    prompt = messages[1].content
    assert prompt.startswith("Objective: the objective")
    assert prompt.index("### facts (research): Find the facts.\nfacts output") < prompt.index(
        "### check (checker): Check the draft.\ncheck output")
    assert "draft output" not in prompt
    assert "Work that did not complete:\n- draft (writer): failed, ModelRequestError: refused" in (
        prompt)
    assert "stopped early" not in prompt


def test_a_run_stopped_by_its_budget_is_answered_from_what_it_has():
    prompt = Synthesizer().messages("o", result(budget_reached="tokens: 900 of 1000"))[1].content
    assert "The run stopped early (tokens: 900 of 1000)" in prompt


def test_each_result_is_cut_to_max_chars_per_result():
    long = RunResult("r", PLAN, (TaskOutcome("facts", "research", "succeeded", 1,
                                             output="x" * 500),), "partial")
    prompt = Synthesizer(max_chars_per_result=50).messages("o", long)[1].content
    assert "x" * 40 in prompt and "x" * 60 not in prompt


def test_assemble_writes_the_completed_work_without_a_model():
    text = Synthesizer().assemble("the objective", result(ok=("facts", "draft")), "over budget")
    assert text.startswith('The answer to "the objective" was not written by a model: '
                           "over budget.")
    assert text.index("## facts: Find the facts.\n\nfacts output") < text.index(
        "## draft: Write the draft.\n\ndraft output")
    assert text.endswith("## Missing\n\n- check (checker): failed, ModelRequestError: refused")


def test_nothing_succeeded_means_no_model_call():
    model = ScriptedModel([])
    text = asyncio.run(Synthesizer().synthesize("o", result(ok=()), model))
    assert model.calls == []
    assert text.startswith("No task succeeded, so there is no answer to write. What failed:")
    assert text.count("ModelRequestError: refused") == 3


class Recording(Synthesizer):
    def finish(self, text: str, *, cut: bool) -> str:
        return f"{text} [cut={cut}]"


def test_the_answer_is_capped_and_finish_is_told_when_the_cap_stopped_it():
    model = ScriptedModel([Scripted("  Short answer.  ", completion_tokens=10),
                           Scripted("Long answer", completion_tokens=40)])
    synth = Recording(max_tokens=40, settings=ModelSettings(temperature=0.2, max_tokens=999))
    first = asyncio.run(synth.synthesize("o", result(), model))
    second = asyncio.run(synth.synthesize("o", result(), model))
    assert (first, second) == ("Short answer. [cut=False]", "Long answer [cut=True]")
    settings = model.calls[0].settings
    assert settings.max_tokens == 40 and settings.temperature == 0.2
