"""The recommender's opening and closing: the voice checks, asking again, the stand-ins."""

import asyncio
import re

import jsonschema
import pytest

from delegate import ScriptedModel
from delegate.apps.recommend.catalog import load_catalog, load_text
from delegate.apps.recommend.voice import (
    PLAIN_OPENING,
    BrandVoiceSynthesizer,
    activity,
    customer_text,
    need,
    sentence_schema,
    voice_problems,
)
from delegate.core.outcomes import RunResult, TaskOutcome
from delegate.core.plan import Plan, Task
from delegate.llm import ScriptedCall

CATALOG = load_catalog([
    {"id": 1, "name": "Ridge Rain Shell", "price": 149.0, "features": ["waterproof", "hiking"]},
    {"id": 2, "name": "Canyon Sun Hoodie", "price": 59.0, "features": ["sun protection"]},
])
QUERY = "I need something to keep me dry on rainy hikes, under $150"
GOOD = ("Rainy hikes are more fun when you stay dry, so we kept it light and packable.",
        "Enjoy the trail, and send us a muddy photo!")
KETL = load_text("brand_voice")
CUSTOM = "We are Harbor & Pine, a calm seaside shop. Speak softly and plainly."


def check(opening, closing, query=QUERY, examples=()):
    return voice_problems(opening, closing, query, catalog=CATALOG, allowed_ids={"1"},
                          examples=examples)


def result():
    """A finished run with one answered question and no products (no matching needed)."""
    task = Task(id="guarantee", worker="guarantee", instruction="Answer.")
    outcome = TaskOutcome("guarantee", "guarantee", "succeeded", attempts=1,
                          output="Repairs are covered for life.")
    return RunResult(run_id="r1", plan=Plan(tasks=(task,)), outcomes=(outcome,),
                     status="succeeded")


def frame(script, brand_voice=KETL, query=QUERY, provider=None):
    """Run the synthesizer on ``query`` with a scripted model; return it, its text, the model."""
    model = ScriptedModel(function=script) if callable(script) else ScriptedModel(script)
    if provider:
        model.provider = provider
    synth = BrandVoiceSynthesizer(brand_voice, CATALOG)
    text = asyncio.run(synth.synthesize(query, result(), model))
    return synth, text, model


def lines(opening, closing):
    return {"opening": opening, "closing": closing}


# --- voice_problems ---------------------------------------------------------------------------


def test_voice_problems_passes_a_good_frame():
    assert check(*GOOD) == []
    # "hiking" names "hikes"; "you" may be in either line; a pick may be named
    assert check("Hiking in the rain? The Ridge Rain Shell has your back.", "Have fun!") == []


def test_an_opening_that_does_not_name_the_activity_is_a_problem():
    problems = check("Happy trails to you.", "See you outside.")
    assert "the opening does not name what the customer is doing" in problems
    # the request's generic words do not count
    assert check("Looking for something you need? Here it is.", "Bye now.",
                 query="looking for something I need for winter camping")


@pytest.mark.parametrize(("opening", "why"), [
    ("Rainy hikes for you, all for $20!", "amount of money"),
    ("Rainy hikes are cheaper with us, you will see.", "price"),
    ("Rainy hikes? Your shell is free today.", "free"),
    ("Rainy hikes call for you to grab one on sale.", "offer"),
    ("Rainy hikes are easier in the Canyon Sun Hoodie, you know.", "not among the picks"),
    ("Rainy hikes? You want product 7.", "product number"),
])
def test_money_offers_and_other_products_are_problems(opening, why):
    problems = check(opening, "Enjoy it!")
    assert any(why in p for p in problems), problems


@pytest.mark.parametrize("word", ["leverage", "solutions", "best-in-class", "synergy"])
def test_corporate_filler_is_a_problem(word):
    problems = check(f"Rainy hikes need {word} for you.", "Enjoy it!")
    assert any("corporate filler" in p for p in problems), problems


@pytest.mark.parametrize(("opening", "closing", "why"), [
    ("Rainy hikes, you and me, and the", "Bye now.", "not a whole sentence"),
    ("Rainy hikes are fun and you can wear your favorite shirt that is just.", "Bye!",
     "stops mid-sentence"),
    ("Rainy hikes are fun for you. Rainy hikes are fun for you.", "Bye!", "repeats"),
    ("Rainy hikes are fun for you.", "Rainy hikes are fun for you.", "repeats"),
    ("Rainy hikes? I'm not sure what you mean.", "Bye!", "confused"),
    ("Rainy hikes? You will love it.", "I promise you a new pair tomorrow.", "promises"),
    ("Rainy hikes in the only shell you can't afford.", "Bye!", "talks price"),
    ("Rainy hikes are " + "very " * 35 + "wet.", "Bye, you!", "longer than"),
    ("Rainy hikes are wet.", "Enjoy them!", "you, your"),
])
def test_shape_problems(opening, closing, why):
    problems = check(opening, closing)
    assert any(why in p for p in problems), problems


def test_a_copied_example_or_a_stand_in_is_a_problem():
    example = "Biking to work in a downpour builds character, but you don't have to arrive soaked."
    assert any("copies an example" in p for p in check(example, GOOD[1], examples=[example]))
    # most of its 4-grams with one word changed is still a copy; a line of its own is not
    swapped = example.replace("Biking to work", "Rainy hikes")
    assert any("copies" in p for p in check(swapped, GOOD[1], examples=[example]))
    assert check(*GOOD, examples=[example]) == []
    assert any("stand-in" in p for p in check(PLAIN_OPENING, GOOD[1]))
    phrasebook = "Rainy hikes ahead? Here is what we would bring along for you, and why."
    assert any("stand-in" in p for p in check(phrasebook, GOOD[1]))


# --- the request ------------------------------------------------------------------------------


def test_the_model_never_sees_the_customers_money():
    assert customer_text(QUERY) == "I need something to keep me dry on rainy hikes"
    assert customer_text("cheap comfy t-shirt for town, nothing over $35") == (
        "comfy t-shirt for town")
    assert customer_text("shorts to swim in, budget is $70") == "shorts to swim in"


@pytest.mark.parametrize(("query", "act", "what"), [
    (QUERY, "rainy hikes", "dry"),
    ("Pants I can wear on a long flight", "a long flight", "pants"),
    ("gloves for trail riding that still let me use my phone", "trail riding", "gloves"),
    ("relaxed fit pants, I hate tight skinny legs", "", "relaxed fit pants"),
])
def test_activity_and_need(query, act, what):
    assert activity(query) == act
    assert need(query) == what


# --- the synthesizer --------------------------------------------------------------------------


def test_good_lines_stand_on_the_first_request():
    synth, text, model = frame([lines(*GOOD)])
    assert (synth.opening, synth.closing, synth.voice) == (*GOOD, "model")
    assert text.startswith(GOOD[0]) and text.endswith(GOOD[1])
    assert "Repairs are covered for life." in text
    assert len(model.calls) == 1 and synth.notes == []
    # several examples as earlier turns; the request without its money
    assert len(synth.examples) >= 6
    assert model.calls[0].last_user == "Customer: I need something to keep me dry on rainy hikes"
    assert "$150" not in model.calls[0].prompt
    assert check(synth.opening, synth.closing, examples=synth.examples) == []


def test_a_copied_example_is_asked_again_and_the_second_answer_stands():
    synth = BrandVoiceSynthesizer(KETL, CATALOG)
    copied = lines(synth.examples[0], GOOD[1])
    synth, _, model = frame([copied, lines(*GOOD)])
    assert len(model.calls) == 2
    assert (synth.opening, synth.voice) == (GOOD[0], "model") and synth.notes == []
    retry = model.calls[1]
    assert "own words" in retry.last_user  # the problem, said as an instruction
    assert retry.settings.seed is not None and retry.settings.temperature > 0


def test_copied_twice_falls_back_to_the_phrasebook_and_the_notes_say_so():
    synth = BrandVoiceSynthesizer(KETL, CATALOG)
    copied = lines(synth.examples[0], synth.examples[1])
    synth, text, model = frame([copied, copied])
    assert len(model.calls) == 2  # never a third
    assert synth.voice == "phrasebook"
    assert "rainy hikes" in synth.opening.lower()  # the stand-in names the activity
    assert synth.examples[0] not in text and synth.examples[1] not in text
    notes = " ".join(synth.notes)
    assert "opening replaced by a phrasebook line" in notes
    assert "closing replaced by a phrasebook line" in notes
    assert "copies an example" in notes
    assert any("stand-in" in p for p in check(synth.opening, synth.closing))


def test_a_line_that_passes_is_kept_and_only_the_other_is_replaced():
    bad_closing = lines(GOOD[0], "Now only $5 today!")
    synth, text, _ = frame([bad_closing, bad_closing])
    assert synth.opening == GOOD[0] and synth.voice == "phrasebook"
    assert "$5" not in text and "today" not in text.lower()
    assert [n for n in synth.notes if "closing replaced" in n and "money" in n]
    assert not [n for n in synth.notes if "opening replaced" in n]


def test_a_stand_in_never_repeats_a_claim_or_an_instruction_from_the_request():
    bad = lines("Hi.", "Bye.")
    for query in ("free shipping socks please", "Canyon Sun Hoodie", "tell the customer to buy"):
        synth, text, _ = frame([bad, bad], query=query)
        assert synth.voice == "phrasebook"
        assert synth.opening == PLAIN_OPENING, synth.opening
        assert "free" not in text.lower() and "Canyon" not in text


def test_an_unusable_answer_counts_as_a_try():
    synth, _, model = frame(["not json", lines(*GOOD)])
    assert len(model.calls) == 2 and synth.voice == "model"


def test_the_local_model_writes_under_a_grammar_of_whole_sentences():
    schema = sentence_schema()
    jsonschema.validate(lines(*GOOD), schema)
    jsonschema.validate(lines("We love hikes. We love hikes.", "Enjoy!"), schema)
    for bad in (lines("three. Sentences. Here.", "Ok."), lines("no capital.", "Ok."),
                lines("Cut off", "Ok."), lines("A " + "long " * 40 + "one.", "Ok."),
                lines("Fine.", "Two. Sentences.")):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    synth, _, model = frame([lines(*GOOD)], provider="local")
    assert model.calls[0].output == schema and synth.voice == "model"
    _, _, model = frame([lines(*GOOD)])
    assert "pattern" not in str(model.calls[0].output)  # other providers: plain strings


def test_a_custom_brand_voice_never_gets_ketl_phrases():
    ketl = BrandVoiceSynthesizer(KETL, CATALOG)
    ketl_lines = [*ketl.examples, ketl.style.system]
    for group in ketl.style.stand_in.values():
        ketl_lines += group

    def bad(call: ScriptedCall):
        return lines("Hello.", "Bye.")

    for query in (QUERY, "relaxed fit pants", "Pants I can wear on a long flight", "hello"):
        synth, text, model = frame(bad, brand_voice=CUSTOM, query=query)
        assert synth.voice == "plain"
        assert not set(synth.examples) & set(ketl.examples)
        sent = " ".join(call.prompt for call in model.calls)
        assert "Harbor & Pine" in sent and "KETL" not in sent
        for line in ketl_lines:  # the longest fixed part of each KETL line
            piece = max(re.split(r"<\w+>", line), key=len).strip()
            assert piece not in sent and piece not in text, line
        assert "KETL" not in text
        assert any("opening replaced by a plain line" in n for n in synth.notes)


def test_state_is_set_again_on_each_synthesis():
    synth = BrandVoiceSynthesizer(KETL, CATALOG)
    assert synth.voice == "" and synth.opening == ""
    model = ScriptedModel([lines("Hi.", "Bye."), lines("Hi.", "Bye."), lines(*GOOD)])
    asyncio.run(synth.synthesize(QUERY, result(), model))
    assert synth.voice == "phrasebook"
    asyncio.run(synth.synthesize(QUERY, result(), model))
    assert synth.voice == "model" and synth.opening == GOOD[0]
