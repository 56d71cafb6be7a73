"""The terminal approver's pieces and ``delegate runs answer``, in process: a run started with
``--approve-plan`` and nobody at the terminal waits (exit 3), is answered with ``runs answer``
(approve, reject, an edited plan from a file, JSON) and carried on with ``runs resume``."""

import asyncio
import json

import pytest

from delegate.cli.approve import NO_ANSWER, TerminalApprover, plan_tree
from delegate.cli.commands import main
from delegate.cli.lines import LineReader
from delegate.core.interrupts import plan_interrupt
from delegate.core.plan import Plan
from delegate.durable.store import open_store
from delegate.llm import ScriptedModel
from delegate.llm.scripted import minimal_instance

OBJECTIVE = "Write a short note about knots"
PLAN = {"tasks": [
    {"id": "t1", "worker": "researcher", "instruction": "Gather facts about knots",
     "depends_on": []},
    {"id": "t2", "worker": "researcher", "instruction": "Gather uses of knots",
     "depends_on": []},
    {"id": "t3", "worker": "writer", "instruction": "Join the findings into a note",
     "depends_on": ["t1", "t2"]},
]}


def _answer(call):
    output = call.output
    if output is not None and output is not str:
        schema = output if isinstance(output, dict) else output.model_json_schema()
        return PLAN if "tasks" in schema.get("properties", {}) else minimal_instance(schema)
    return f"Answer {call.index}: knots hold."


@pytest.fixture
def store_url(tmp_path, monkeypatch):
    """A store of the test's own and a scripted model as whatever --model names."""
    model = ScriptedModel(function=_answer)
    monkeypatch.setattr("delegate.runtime.get_model", lambda spec=None: model)
    url = str(tmp_path / "runs.db")
    monkeypatch.setenv("DELEGATE_STORE", url)
    return url


def _waiting_run(capsys) -> str:
    assert main(["run", "--approve-plan", "--workflow", "general", "--quiet", OBJECTIVE]) == 3
    err = capsys.readouterr().err
    store = open_store(None)
    try:
        run_id = store.list_runs(1)[0].run_id
    finally:
        store.close()
    assert f"delegate runs answer {run_id}" in err
    return run_id


def _stored(run_id):
    store = open_store(None)
    try:
        return (store.get_run(run_id), store.interrupts(run_id), store.plan_versions(run_id),
                store.outcomes(run_id))
    finally:
        store.close()


def test_runs_show_lists_the_waiting_question_and_answer_approves_it(store_url, capsys):
    run_id = _waiting_run(capsys)
    assert main(["runs", "show", run_id[:10]]) == 0
    shown = capsys.readouterr().out
    assert "waiting for an answer" in shown and f"runs answer {run_id} plan:1" in shown
    assert main(["runs", "answer", run_id[:10], "--approve", "--by", "ana"]) == 0
    out = capsys.readouterr().out
    assert f"answered plan:1 of run {run_id} (approve)" in out
    assert f"delegate runs resume {run_id}" in out
    _, asked, _, _ = _stored(run_id)
    assert [(r["status"], r["answered_by"], r["answer"]) for r in asked] == [
        ("answered", "ana", {"action": "approve", "by": "ana"})]
    assert main(["runs", "resume", run_id, "--quiet"]) == 0
    run, _, _, outcomes = _stored(run_id)
    assert run.status == "succeeded" and sorted(outcomes) == ["t1", "t2", "t3"]


def test_a_second_answer_is_refused_naming_who_answered(store_url, capsys):
    run_id = _waiting_run(capsys)
    assert main(["runs", "answer", run_id, "plan:1", "--reject", "too broad", "--by",
                 "ana"]) == 0
    capsys.readouterr()
    assert main(["runs", "answer", run_id, "plan:1", "--approve", "--by", "bo"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "answered by ana" in err
    # and with no id: nothing is waiting any more
    assert main(["runs", "answer", run_id, "--approve"]) == 2
    assert "no question waiting" in capsys.readouterr().err
    assert main(["runs", "resume", run_id, "--quiet"]) == 1
    run, _, _, outcomes = _stored(run_id)
    assert run.status == "cancelled"
    assert all(o["status"] == "skipped" for o in outcomes.values())


def test_an_edited_plan_from_a_file_runs_after_resume(store_url, capsys, tmp_path):
    run_id = _waiting_run(capsys)
    edited = tmp_path / "plan.json"
    edited.write_text(json.dumps({"tasks": [
        PLAN["tasks"][0], {**PLAN["tasks"][2], "depends_on": ["t1"]}]}))
    assert main(["runs", "answer", run_id, "--edit", str(edited)]) == 0
    capsys.readouterr()
    assert main(["runs", "resume", run_id, "--quiet"]) == 0
    run, _, versions, outcomes = _stored(run_id)
    assert run.status == "succeeded"
    assert [t["id"] for t in versions[-1]["plan"]["tasks"]] == ["t1", "t3"]
    assert {tid: o["status"] for tid, o in outcomes.items() if tid != "t2"} == {
        "t1": "succeeded", "t3": "succeeded"}


@pytest.mark.parametrize("args, message", [
    (["--answer", "{\"action\": \"maybe\"}"], "an answer to a plan approval is"),
    (["--answer", "{not json"], "--answer is not valid JSON"),
    (["--edit", "missing.json"], "cannot read missing.json"),
    (["--edit", "."], "is a folder"),
    (["--edit", "cycle.json"], "the edited plan is invalid"),
    (["--edit", "list.json"], "holds no JSON object"),
    (["--edit", "big.json"], "is over 1,000,000 bytes"),
    (["--reject", "  "], "--reject needs a reason"),
])
def test_a_bad_answer_is_one_line_and_stores_nothing(store_url, capsys, tmp_path,
                                                      monkeypatch, args, message):
    run_id = _waiting_run(capsys)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cycle.json").write_text(json.dumps({"tasks": [
        {**PLAN["tasks"][0], "depends_on": ["t3"]}, PLAN["tasks"][2]]}))
    (tmp_path / "list.json").write_text("[]")
    (tmp_path / "big.json").write_text(" " * 1_000_001)
    assert main(["runs", "answer", run_id, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err, err
    _, asked, _, _ = _stored(run_id)
    assert [r["status"] for r in asked] == ["pending"]


def test_several_waiting_questions_must_be_named(store_url, capsys):
    run_id = _waiting_run(capsys)
    store = open_store(None)
    try:
        store.add_interrupt(run_id, {"interrupt_id": "ask:t1:1", "kind": "question"})
    finally:
        store.close()
    assert main(["runs", "answer", run_id, "--approve"]) == 2
    assert "2 questions waiting (plan:1, ask:t1:1)" in capsys.readouterr().err


def test_the_plan_tree_shows_ids_workers_dependencies_and_instructions():
    tree = plan_tree({"version": 2, **PLAN})
    assert tree.splitlines() == [
        "plan v2: 3 tasks",
        "├─ t1 [researcher]",
        "│     Gather facts about knots",
        "└─ t2 [researcher]",
        "   │  Gather uses of knots",
        "   └─ t3 [writer]  needs t1, t2",
        "         Join the findings into a note",
    ]


def _ask(lines, edit=None):
    interrupt = plan_interrupt(Plan.model_validate(PLAN))
    shown = []
    source = iter(lines)

    def read(prompt):
        shown.append(prompt)
        return next(source)

    approver = TerminalApprover(read, shown.append, by="ana", edit=edit)
    return asyncio.run(approver(interrupt)), shown


def test_an_edit_that_is_not_json_is_said_in_one_line_and_asked_again():
    saves = iter(["{\"tasks\": [", json.dumps({"tasks": PLAN["tasks"][:1]})])
    drafts = []

    def edit(path):
        with open(path, encoding="utf-8") as f:
            drafts.append(f.read())
        with open(path, "w", encoding="utf-8") as f:
            f.write(next(saves))

    answer, shown = _ask(["e", "e"], edit=edit)
    assert answer == {"action": "edit", "plan": {"tasks": PLAN["tasks"][:1]}, "by": "ana"}
    assert any(s.startswith("the edited plan is not valid JSON") for s in shown)
    first = json.loads(drafts[0])["tasks"]
    assert [(t["id"], t["instruction"]) for t in first] == [
        (t["id"], t["instruction"]) for t in PLAN["tasks"]]
    assert drafts[1] == "{\"tasks\": ["  # the second edit starts from what was saved


def test_end_of_input_rejects_with_no_answer():
    def eof(prompt):
        raise EOFError

    interrupt = plan_interrupt(Plan.model_validate(PLAN))
    answer = asyncio.run(TerminalApprover(eof, lambda text: None, by="")(interrupt))
    assert answer == {"action": "reject", "reason": NO_ANSWER}
    assert _ask(["r", "  too   broad "])[0] == {"action": "reject", "reason": "too broad",
                                                 "by": "ana"}


def test_a_read_left_waiting_gives_its_line_to_the_next_reader():
    import threading

    release, calls = threading.Event(), []

    def read(prompt):
        calls.append(prompt)
        release.wait(60)
        return "late line"

    reader = LineReader(read)

    async def interrupted():  # a question given up while its read waits (as Ctrl-C does)
        task = asyncio.ensure_future(reader.ask("first? "))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(interrupted())
    release.set()
    assert reader.line("next> ") == "late line"
    assert calls == ["first? "]  # one reader of the input, never two


def test_ctrl_c_the_moment_the_prompt_shows_is_no_answer_not_the_end_of_the_run():
    import os
    import signal
    import threading

    release = threading.Event()

    def read(prompt):  # the prompt shows, and the person presses Ctrl-C at once
        os.kill(os.getpid(), signal.SIGINT)
        release.wait(60)
        return "too late"

    reader = LineReader(read)

    async def asked():
        answer = await reader.ask("[a]pprove, [e]dit, [r]eject? ")
        await asyncio.sleep(0)  # the run goes on after the question
        return answer

    try:
        assert asyncio.run(asked()) is None
    finally:
        release.set()


def _answer_with(interrupt, lines):
    shown, source = [], iter(lines)

    def read(prompt):
        shown.append(prompt)
        return next(source)

    return asyncio.run(TerminalApprover(read, shown.append, by="ana")(interrupt)), shown


def test_the_terminal_answers_a_tasks_question_within_its_choices():
    from delegate.core.interrupts import Interrupt

    asked = Interrupt(id="ask:t1:1:1", kind="question", task_id="t1",
                      payload={"question": "Which region?", "choices": ["north", "south"]},
                      schema={"enum": ["north", "south"]})
    answer, shown = _answer_with(asked, ["west", "  south "])
    assert answer == "south"
    assert "t1 asks: Which region?" in shown and "answer one of: north, south" in shown

    def eof(prompt):
        raise EOFError

    from delegate.errors import UsageError

    with pytest.raises(UsageError, match="no answer in the terminal"):
        asyncio.run(TerminalApprover(eof, lambda text: None)(asked))


def test_the_terminal_approves_edits_or_rejects_a_tool_call():
    from delegate.core.interrupts import TOOL_ANSWER_SCHEMA, Interrupt

    call = Interrupt(id="tool:t1:1:1", kind="tool_approval", task_id="t1",
                     payload={"tool": "send_refund", "arguments": {"amount": 30}},
                     schema=TOOL_ANSWER_SCHEMA)
    assert _answer_with(call, ["a"])[0] == {"action": "approve", "by": "ana"}
    answer, shown = _answer_with(call, ["e", "{not json", "e", '{"amount": 25}'])
    assert answer == {"action": "edit", "arguments": {"amount": 25}, "by": "ana"}
    assert any(s.startswith("not JSON") for s in shown)
    assert _answer_with(call, ["r", "too much"])[0] == {"action": "reject",
                                                        "reason": "too much", "by": "ana"}
