"""What the sketch engine reads in a prompt (engines/sketch/words.py): subjects, colours, seats, scenes, fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from darkroom.engines.sketch.palette import COLOUR_WORDS, MOOD_WORDS
from darkroom.engines.sketch.words import (
    CATEGORIES,
    MAX_SUBJECTS,
    SCENE_SUBJECT,
    SCENE_WORDS,
    STOP_WORDS,
    SUBJECT_WORDS,
    Pick,
    plan,
    subject_of,
    vocabulary_markdown,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sketch.md"
ALL_WORDS = [(name, word) for name, words in SUBJECT_WORDS.items() for word in words]


def test_the_vocabulary_is_broad_and_every_word_names_one_subject():
    assert len(SUBJECT_WORDS) >= 60
    assert len(ALL_WORDS) == len({word for _, word in ALL_WORDS}), "a word names two subjects"
    for name, word in ALL_WORDS:
        assert word == word.lower() and word.replace(" ", "").isalpha(), word
        assert word not in STOP_WORDS and word not in COLOUR_WORDS, (name, word)
    assert set(SCENE_SUBJECT) == set(SCENE_WORDS) and set(SCENE_SUBJECT.values()) <= set(SUBJECT_WORDS)


@pytest.mark.parametrize(("name", "word"), ALL_WORDS)
def test_each_word_selects_its_subject(name, word):
    assert [p.name for p in plan(f"a {word}, flat illustration").subjects] == [name]
    assert [p.name for p in plan(f"{word.upper()}!").subjects] == [name]


def test_plurals_and_irregular_plurals():
    for prompt, name in [("three cats", "cat"), ("kittens", "cat"), ("bunnies", "rabbit"), ("two buses", "bus"),
                         ("boxes of gifts", "gift"), ("autumn leaves", "leaf"), ("snowmen", "snowman"),
                         ("cacti", "cactus"), ("puppies", "dog"), ("noodles", "ramen"), ("lattes", "coffee")]:
        assert [p.name for p in plan(prompt).subjects] == [name], prompt
    assert subject_of("glasses") is None and subject_of("news") is None and subject_of("bus") == "bus"


def test_a_cat_on_a_sofa_draws_a_cat_on_the_sofa():
    assert plan("A cat on a sofa").subjects == (Pick("cat", on="sofa"), Pick("sofa"))
    assert plan("a cat sitting on the old couch").subjects == (Pick("cat", on="sofa"), Pick("sofa"))
    assert plan("a cat and a sofa").subjects == (Pick("cat"), Pick("sofa"))  # no "on": side by side
    assert plan("a lamp on a car").subjects == (Pick("lamp"), Pick("car"))  # a car is no seat


def test_the_issue_prompts_draw_what_they_say():
    expected = {"coffee": ["coffee"], "a bowl of ramen with chopsticks": ["ramen"], "a lighthouse": ["lighthouse"],
                "espresso and a croissant": ["coffee"], "hero image for a todo app": ["checklist", "phone"]}
    for prompt, names in expected.items():
        assert [p.name for p in plan(prompt).subjects] == names, prompt


def test_phrases_come_before_their_words():
    assert [p.name for p in plan("a hot air balloon").subjects] == ["balloon"]
    assert [p.name for p in plan("ice cream in winter").subjects] == ["icecream"]
    assert [p.name for p in plan("a palm tree").subjects] == ["palm"]  # not palm and trees
    assert [p.name for p in plan("a hot dog").subjects] == ["burger"]  # not a dog


def test_at_most_three_subjects_in_the_prompts_order_each_once():
    got = plan("a dog, a cat, another dog, a bird and a fish").subjects
    assert [p.name for p in got] == ["dog", "cat", "bird"] and len(got) == MAX_SUBJECTS


def test_a_colour_word_before_a_subject_colours_it():
    got = plan("a red car next to a blue bus and a green sports car").subjects
    assert got == (Pick("car", "red"), Pick("bus", "blue"))
    assert plan("a red sports car").subjects == (Pick("car", "red"),)
    assert plan("a car, red sky").subjects == (Pick("car"),)
    assert plan("red cat dog").subjects == (Pick("cat", "red"), Pick("dog"))  # not across another subject


def test_scenes_and_their_own_subjects():
    assert plan("a cat on the beach at night").scenes == {"beach", "water", "night"}
    assert plan("underwater").subjects == (Pick("fish"),)
    assert plan("a beach by the ocean").subjects == (Pick("palm"),)
    assert plan("deep space").subjects == (Pick("planet"),) and "night" in plan("deep space").scenes
    assert plan("a calm night over the mountains").subjects == (Pick("mountain"),)
    assert plan("a starry night").subjects == (Pick("moon"),)
    assert plan("a dog in the snow").subjects == (Pick("dog"),)  # a subject: no scene subject


def test_unknown_words_get_the_lettered_fallback():
    assert plan("quantum zebra accountant").subjects == ()
    assert plan("quantum zebra accountant").lettering == ("quantum", "zebra")
    assert plan("A beautiful image of a Zyxx, vibrant").lettering == ("zyxx",)  # stop, mood and colour words go
    assert plan("").lettering == () and plan("42 !!").lettering == () and plan("猫").subjects == ()
    assert plan("a cat").lettering == ()


def test_plan_is_a_pure_function_of_the_prompt():
    prompts = ["a cat on a sofa", "quantum zebra", "red car in the city at night", ""]
    assert [plan(p) for p in prompts] == [plan(p) for p in prompts]
    assert all(set(MOOD_WORDS).isdisjoint(SUBJECT_WORDS[p.name]) for p in plan("a warm cozy cat").subjects)


def test_the_docs_list_every_subject_scene_and_word():
    """docs/sketch.md carries the generated vocabulary, so the page cannot drift from the table."""
    page = DOCS.read_text()
    assert vocabulary_markdown() in page, (
        "docs/sketch.md's vocabulary is out of date: paste the output of "
        "`vocabulary_markdown()` (darkroom.engines.sketch.words) between its vocabulary markers")
    for group, subjects in CATEGORIES.items():
        for name, words in subjects.items():
            assert f"- **{name}**: {', '.join(words)}" in page
