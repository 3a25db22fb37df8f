"""The term lists (`moderation/terms.py`, data in `moderation/terms/*.toml`): loading, normalising, matching."""

from __future__ import annotations

import re

import pytest

from darkroom.moderation import terms
from darkroom.moderation.terms import (
    TermsError,
    load,
    match_terms,
    names_minors,
    normalise,
)

CATEGORIES = ["sexual", "sexual/minors", "violence/graphic", "self-harm", "hate", "harassment", "illicit"]


# ---- the bundled data files --------------------------------------------------------------------------

def test_every_category_loads_with_terms_in_openais_order():
    lexicon = terms.lexicon()
    assert [category.name for category in lexicon.categories] == CATEGORIES
    for category in lexicon.categories:
        assert len(category.low.terms) + len(category.auto.terms) >= 20, category.name


def test_sexual_minors_blocks_at_every_level_and_names_its_minors_list():
    minors = terms.lexicon().category("sexual/minors")
    assert {pair.level for pair in minors.pairs} == {"low"}
    assert "child" in minors.lists["minors"].terms


def test_the_levels_are_checked():
    with pytest.raises(ValueError, match="`level` must be 'auto' or 'low', but is 'high'"):
        match_terms("a cat", "high")


# ---- normalisation ---------------------------------------------------------------------------------

@pytest.mark.parametrize("written, normalised", [
    ("NUDE", "nude"),
    ("ＮＵＤＥ", "nude"),  # full-width
    ("𝐧𝐮𝐝𝐞", "nude"),  # mathematical bold
    ("nüdé", "nude"),  # accents
    ("n\u0301u\u0308de", "nude"),  # combining marks
    ("n\u200bu\u200cd\u00ade", "nude"),  # zero-width space and non-joiner, soft hyphen
    ("nаkеd", "naked"),  # Cyrillic а and е
    ("STRASSE", "strasse"),
    ("don’t", "don't"),
    ("p.o.r.n", "porn"),  # letters spelled apart are joined
    ("s.e.x. tape", "sex. tape"),
    ("n-a-k-e-d k-i-d-s", "naked kids"),  # a word ends where the separator changes
    ("p o r n  s t a r", "porn star"),
    ("a s e x y kid", "asexy kid . sexy"),  # "a" or "i" starting a joined word may be a word of its own
    ("U.S.A. flag", "usa. flag"),
    ("a b c, x y", "abc xy"),
    ("x y", "x y"),  # 3 letters at least
])
def test_normalise(written, normalised):
    assert normalise(written) == normalised


@pytest.mark.parametrize("prompt", [
    "p0rn", "p0rn0", "PORN", "ｐｏｒｎ", "p.o.r.n", "p o r n", "p-o-r-n", "p_o_r_n", "pooorn",
    "porrrn", "p\u200born", "рorn", "$ex tape", "5ex tape", "s3x tape", "s.e.x tape", "porno", "pornography",
])
def test_obfuscations_of_a_low_sexual_term_are_caught(prompt):
    assert match_terms(prompt, "low") == ["sexual"]


@pytest.mark.parametrize("prompt", [
    "the annals of history",  # a doubled letter is not a repeat: "anal"
    "the rapper rapped all night",  # nor "raped"
    "order number 7175 at the counter",  # digits alone are not leetspeak for "tits"
    "a Samsung Galaxy A55 on a desk",
    "a cute lol! cat",  # "!" at the end of a word is punctuation, not an i ("loli")
    "a lolipop and a lollipop",
    "U.S.A. flag on a pole",
    "a 3d render, 4k, 35mm, f/1.8",
    "naïve café déjà vu",
    "Essex, Sussex and a unisex sign",
    "a sextant and a sextet",
    "summa cum laude",
    "a bath bomb and a photo bomb",
    "a scrape, a drape and a grape",
])
def test_normalisation_does_not_make_ordinary_text_match(prompt):
    assert match_terms(prompt, "auto") == []


# ---- matching -------------------------------------------------------------------------------------

@pytest.mark.parametrize("prompt, expected", [
    ("a decapitated body", ["violence/graphic"]),  # decapitat*: any ending
    ("decapitation", ["violence/graphic"]),
    ("a suicide note", ["self-harm"]),
    ("self harm", ["self-harm"]),  # phrases across spaces, hyphens, underscores or nothing
    ("self-harm", ["self-harm"]),
    ("self_harm", ["self-harm"]),
    ("selfharm", ["self-harm"]),
    ("self \n\t harm", ["self-harm"]),
    ("a $uicide note", ["self-harm"]),
])
def test_terms_match_whole_words_and_phrases(prompt, expected):
    assert match_terms(prompt, "auto") == expected


def test_a_term_matches_only_whole_words():
    assert match_terms("a gory scene", "auto") == ["violence/graphic"]
    assert match_terms("a gorydale scene", "auto") == []  # "gory" has no *
    assert match_terms("categorys", "auto") == []


@pytest.mark.parametrize("prompt, auto, low", [
    ("a nude figure study", ["sexual"], []),
    ("explicit pornographic scene", ["sexual"], ["sexual"]),
    ("a gory battlefield", ["violence/graphic"], []),
    ("a decapitated body", ["violence/graphic"], ["violence/graphic"]),
    ("a suicide note", ["self-harm"], []),
    ("a nude figure study and a gory battlefield", ["sexual", "violence/graphic"], []),
])
def test_low_terms_block_at_every_level_auto_terms_only_at_auto(prompt, auto, low):
    assert match_terms(prompt, "auto") == auto
    assert match_terms(prompt, "low") == low


@pytest.mark.parametrize("prompt", ["a naked child", "NUDE TEENS", "erotic schoolgirl", "a sexy 12 year old",
                                    "a toddler in lingerie", "kids, nude", "a teenager, porn"])
def test_minors_and_sexual_content_are_sexual_minors_at_every_level(prompt):
    assert "sexual/minors" in match_terms(prompt, "low")
    assert "sexual/minors" in match_terms(prompt, "auto")


@pytest.mark.parametrize("prompt", ["children playing in a park", "a sexy red sports car", "a nude lipstick",
                                    "a kid looking at the moon with the naked eye", "baby oil on a nude model"])
def test_either_half_of_a_pair_alone_is_not_sexual_minors(prompt):
    assert "sexual/minors" not in match_terms(prompt, "auto")


def test_pairs_block_at_their_level():
    assert match_terms("a bloody corpse", "auto") == ["violence/graphic"]  # an auto pair
    assert match_terms("a bloody corpse", "low") == []
    assert match_terms("a bloody mary", "auto") == []
    assert match_terms("kill all jews", "low") == ["hate"]  # a low pair
    assert match_terms("kill all the zombies", "low") == []
    assert match_terms("a recipe for crystal meth", "low") == ["illicit"]
    assert match_terms("a recipe for a hot chocolate bomb", "low") == []


@pytest.mark.parametrize("prompt", ["a naked eye view of the night sky", "a naked mole rat", "nude heels",
                                    "a field of oilseed rape", "the sex of the chick", "a same-sex couple",
                                    "a sexual health clinic", "Al Gore", "a suicide prevention hotline"])
def test_allow_phrases_hide_the_terms_they_contain(prompt):
    assert match_terms(prompt, "auto") == []


def test_allow_phrases_hide_only_themselves():
    assert match_terms("a naked eye, and a naked woman", "auto") == ["sexual"]


def test_names_minors():
    assert names_minors("make her look like a teenage girl")
    assert names_minors("a 7-year-old boy")
    assert not names_minors("a woman on a sofa")
    assert not names_minors("baby blue walls")


def test_without_allowed_blanks_every_categorys_allow_phrases():
    assert terms.without_allowed("Moby Dick and a Naked Mole Rat") == "  and a  "


def test_in_order():
    assert terms.in_order(["illicit", "zzz", "sexual", "illicit", "aaa"]) == ["sexual", "illicit", "aaa", "zzz"]


# ---- loading other folders -------------------------------------------------------------------------

GOOD = '''
category = "violence/graphic"
low = ["splatter*"]
auto = ["gore"]
allow = ["gore tex"]

[lists]
red = ["blood"]
bodies = ["corpse"]

[[pairs]]
level = "auto"
first = ["red"]
second = ["bodies"]
'''


def write(folder, files: dict[str, str]):
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_a_folder_of_term_files_loads(tmp_path):
    lexicon = load(write(tmp_path, {"violence-graphic.toml": GOOD, "notes.txt": "ignored"}))
    assert lexicon.match("a splattered wall", "low") == ["violence/graphic"]
    assert lexicon.match("a gore-tex jacket", "auto") == []
    assert lexicon.match("gore", "auto") == ["violence/graphic"]
    assert lexicon.match("blood on a corpse", "auto") == ["violence/graphic"]
    assert lexicon.match("blood on a corpse", "low") == []


def test_a_pair_may_name_another_category(tmp_path):
    minors = 'category = "sexual/minors"\n[lists]\nyoung = ["kid"]\n[[pairs]]\nlevel = "low"\n' \
             'first = ["young"]\nsecond = ["violence/graphic"]\n'
    lexicon = load(write(tmp_path, {"violence-graphic.toml": GOOD, "sexual-minors.toml": minors}))
    assert lexicon.match("a kid covered in gore", "low") == ["sexual/minors"]
    assert lexicon.match("a kid in gore tex", "low") == []  # the named category's allow phrases apply


@pytest.mark.parametrize("name, text, message", [
    ("violence-graphic.toml", 'category = "violence/graphic"\nlow = ["gore"', "violence-graphic.toml: not valid TOML"),
    ("violence-graphic.toml", 'category = "violence/graphic"\nlow = ["gore"]\nhigh = ["x"]',
     "violence-graphic.toml: unknown keys ['high']"),
    ("violence-graphic.toml", 'low = ["gore"]', "`category` must be a category name"),
    ("gore.toml", 'category = "violence/graphic"\nlow = ["gore"]',
     "gore.toml: the file for category 'violence/graphic' must be named violence-graphic.toml"),
    ("violence-graphic.toml", 'category = "violence/graphic"\nlow = "gore"', "`low` must be a list of strings"),
    ("violence-graphic.toml", 'category = "violence/graphic"\nlow = ["Gore"]',
     "term 'Gore' in `low`: a term is lowercase ASCII words"),
    ("violence-graphic.toml", 'category = "violence/graphic"\nlow = ["*gore"]', "term '*gore' in `low`"),
    ("violence-graphic.toml", 'category = "violence/graphic"\nlow = ["gore  fest"]', "term 'gore  fest' in `low`"),
    ("violence-graphic.toml", 'category = "violence/graphic"\nlow = ["gore"]\nauto = ["gore"]',
     "'gore' is in both `low` and `auto`"),
    ("violence-graphic.toml", 'category = "violence/graphic"\nallow = ["gore tex"]', "has no terms"),
    ("violence-graphic.toml", 'category = "violence/graphic"\nlow = ["gore"]\n[[pairs]]\nlevel = "high"\n'
     'first = ["violence/graphic"]\nsecond = ["violence/graphic"]', "a pair's `level` must be \"low\" or \"auto\""),
    ("violence-graphic.toml", 'category = "violence/graphic"\nlow = ["gore"]\n[[pairs]]\nlevel = "low"\n'
     'first = ["red"]', "each [[pairs]] has exactly the keys"),
    ("violence-graphic.toml", 'category = "violence/graphic"\nlow = ["gore"]\n[[pairs]]\nlevel = "low"\n'
     'first = ["red"]\nsecond = ["violence/graphic"]', "a pair names 'red', which is neither a list"),
    ("violence-graphic.toml", 'category = "violence/graphic"\nlow = ["gore"]\n[lists]\nx = [1]',
     "`lists.x` must be a list of strings"),
])
def test_a_malformed_file_is_rejected_with_a_clear_error(tmp_path, name, text, message):
    with pytest.raises(TermsError, match=re.escape(message)):
        load(write(tmp_path, {name: text}))


def test_a_folder_without_term_files_is_rejected(tmp_path):
    with pytest.raises(TermsError, match="no term files"):
        load(write(tmp_path, {"README.txt": "nothing here"}))
