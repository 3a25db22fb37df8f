"""The local text check (`moderation/text.py`): term lists plus alt-profanity-check, at default thresholds.

`python -m tests.moderation.test_text` prints the classifier's figures behind DEFAULT_HARASSMENT_THRESHOLD.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from darkroom.moderation import terms, text
from darkroom.moderation.text import (
    DEFAULT_HARASSMENT_THRESHOLD,
    check_text,
    harassment_score,
)

from .classifier_prompts import ABUSE, CASUAL_PROFANITY, ORDINARY
from .prompts import LABELLED

CATEGORIES = {"sexual", "sexual/minors", "violence/graphic", "self-harm", "hate", "harassment", "illicit"}


@pytest.fixture(scope="module", autouse=True)
def warm() -> None:
    text.warm_up()


# ---- the labelled prompts ----------------------------------------------------------------------------

@pytest.mark.parametrize("item", LABELLED, ids=[item.prompt[:60] for item in LABELLED])
def test_each_labelled_prompt_is_blocked_exactly_as_labelled(item):
    for level in ("auto", "low"):
        found = check_text(item.prompt, level, DEFAULT_HARASSMENT_THRESHOLD[level])
        assert set(found) == set(getattr(item, level)), level
        assert found == terms.in_order(found)  # OpenAI's order, no repeats


def test_the_labelled_set_spans_every_category_at_both_levels():
    assert len(LABELLED) >= 120
    assert len({item.prompt for item in LABELLED}) == len(LABELLED)
    assert sum(not item.auto for item in LABELLED) >= 60  # plenty of ordinary prompts
    for level in ("auto", "low"):
        assert set().union(*(getattr(item, level) for item in LABELLED)) == CATEGORIES
    for item in LABELLED:
        assert set(item.low) <= set(item.auto), item.prompt  # what blocks at low blocks at auto


# ---- the classifier and its thresholds ---------------------------------------------------------------

def test_a_high_score_blocks_at_a_threshold_up_to_it_and_not_above():
    prompt = "a picture of Tom, he is a dumb moron"
    score = harassment_score(prompt)
    assert 0.9 < score < 1 and terms.match_terms(prompt, "auto") == []
    assert check_text(prompt, "low", score) == ["harassment"]
    assert check_text(prompt, "low", score - 0.01) == ["harassment"]
    assert check_text(prompt, "low", math.nextafter(score, 1)) == []


def test_harassment_terms_block_whatever_the_threshold():
    assert harassment_score("a poster telling Mike to go kill yourself") < 0.5
    assert check_text("a poster telling Mike to go kill yourself", "low", 1.0) == ["harassment"]


def test_an_insult_inside_a_long_prompt_still_counts():
    scenery = "a beautiful landscape painting of rolling green hills with a small farmhouse, golden hour light, " * 4
    assert harassment_score(scenery) < 0.5
    assert harassment_score(scenery + "and my boss, you worthless piece of shit") > 0.99


def test_allow_phrases_keep_the_classifier_from_misreading_names():
    assert harassment_score("a portrait of Dick Van Dyke") < 0.5
    assert harassment_score("a portrait of Dick") > 0.9


def test_an_empty_prompt_passes():
    assert harassment_score("") == 0.0 and check_text("", "auto", 0.5) == []
    assert check_text(" \n ", "auto", 0.5) == []


def test_the_level_is_checked():
    with pytest.raises(ValueError, match="`level` must be 'auto' or 'low'"):
        check_text("a cat", "strict", 0.5)


THRESHOLDS = (0.8, 0.85, 0.9, 0.95, 0.97, 0.99)
SETS = {"ordinary prompts": ORDINARY, "casual profanity": CASUAL_PROFANITY, "abuse at someone": ABUSE}


def measure() -> dict[str, list[int]]:
    """How many prompts of each set score at or above each of THRESHOLDS."""
    scores = {name: [harassment_score(prompt) for prompt in prompts] for name, prompts in SETS.items()}
    return {name: [sum(s >= t for s in values) for t in THRESHOLDS] for name, values in scores.items()}


def test_the_default_thresholds_keep_to_the_measured_figures():
    figures = measure()
    auto, low = (THRESHOLDS.index(DEFAULT_HARASSMENT_THRESHOLD[level]) for level in ("auto", "low"))
    assert DEFAULT_HARASSMENT_THRESHOLD["auto"] < DEFAULT_HARASSMENT_THRESHOLD["low"]
    assert figures["ordinary prompts"][auto] <= 2 and figures["ordinary prompts"][low] == 0  # of 446
    assert figures["abuse at someone"][auto] >= 32 and figures["abuse at someone"][low] >= 22  # of 40
    assert figures["casual profanity"][low] <= 8  # of 30


def test_terms_alone_block_none_of_the_measurement_prompts():
    # The classifier sets hold no term: terms never block an ordinary prompt or casual profanity there.
    for prompt in ORDINARY + CASUAL_PROFANITY:
        assert terms.match_terms(prompt, "auto") == [], prompt


# ---- cost -------------------------------------------------------------------------------------------

def test_the_classifier_is_imported_only_when_needed():
    code = "import sys, darkroom.moderation.text; print('profanity_check' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_the_classifier_numbers_are_cached_and_the_cache_gives_the_same_probabilities(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fresh = text.AbuseClassifier.load()  # from the package: nothing is cached under tmp_path yet
    path = text.cache_path()
    assert path.parent == tmp_path / "darkroom" and path.is_file()
    monkeypatch.setattr(text, "fitted_arrays", lambda: pytest.fail("the package was read again"))
    cached = text.AbuseClassifier.load()
    prompts = ABUSE + CASUAL_PROFANITY + ORDINARY
    assert cached.probabilities(prompts) == fresh.probabilities(prompts)


@pytest.mark.parametrize("broken", ["not a zip file", "cut short"])
def test_a_broken_cache_file_is_written_again(tmp_path, monkeypatch, broken):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = text.cache_path()
    if broken == "cut short":  # a real cache file, truncated (a full disk, a killed write elsewhere)
        text.AbuseClassifier.load()
        path.write_bytes(path.read_bytes()[:4096])
    else:
        path.parent.mkdir(parents=True)
        path.write_bytes(b"not a zip file")
    assert text.AbuseClassifier.load().probability("you worthless piece of shit") > 0.9
    with np.load(path, allow_pickle=False) as saved:
        assert set(saved.files) == set(text.ARRAYS)


def test_a_cache_folder_that_cannot_be_written_costs_only_time(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a-file"))
    assert text.AbuseClassifier.load().probability("a cat on a sofa") < 0.5


@pytest.mark.parametrize("filler", [
    "A cheerful hero image for a todo app: a checklist card on a desk, blue and orange, soft light, " * 400,
    "p.o.r.n a b c d " * 2000,  # spelled-apart letters all the way
    "p" + "o" * 31998 + "n",  # one endless repeated letter
    " " * 32000,
])
def test_a_32000_character_prompt_is_scanned_to_its_end(filler):
    # Adversarial shapes for the normaliser and the trie regexes, with a term in the last characters.
    # How long they take is measured, not asserted: `python -m bench moderation` times 32,000 characters.
    tail = " and a gory battlefield"
    prompt = filler[:32000 - len(tail)] + tail
    assert check_text(prompt, "auto", 0.85) == ["violence/graphic"]
    assert check_text(prompt, "low", 0.97) == []


if __name__ == "__main__":
    text.warm_up()
    print("prompts scoring >= threshold" + "".join(f"{t:>8}" for t in THRESHOLDS))
    for name, counts in measure().items():
        print(f"{name} ({len(SETS[name])})".ljust(28) + "".join(f"{c:>8}" for c in counts))
