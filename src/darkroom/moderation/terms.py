"""Curated term lists per moderation category: loading them, normalising prompts, matching.

    match_terms(prompt, "auto")   # -> ["sexual", "violence/graphic"]: the categories whose terms block it
    names_minors(prompt)          # -> True when the prompt names minors (the image check uses it)
    normalise(prompt)             # the text terms are matched against
    without_allowed(prompt)       # ... without the allow phrases: what the abusive-language classifier reads
    load(folder)                  # a Lexicon from a folder of term files; TermsError names a malformed one

The lists are data: one TOML file per category in `terms/`, each starting with a comment that explains
the format. `low` terms block at every level, `auto` terms only at `auto`; a pair blocks when a term of
one list and a term of another are both in the prompt (minors + any sexual term is `sexual/minors`);
`allow` phrases are ordinary phrases that contain a term ("naked eye"), blanked out before matching.

Prompts are normalised first (NFKC, casefold, no accents or zero-width characters, Cyrillic and Greek
look-alikes as Latin, letters spelled apart joined). Each list is compiled once into one regex, its
terms factored into a trie, that also accepts leetspeak (`p0rn`, `$ex`, `sh!t`) and a letter repeated
3+ times (`pooorn`), but not a doubled letter ("rapped" is not "raped"). A match made mostly of digits
and symbols ("7175" for "tits") does not count. A prompt is scanned once per list: linear time, ~0.1 ms
for a typical prompt, ~30 ms for 32,000 characters.
"""

from __future__ import annotations

import functools
import re
import tomllib
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

LEVELS = ("auto", "low")
# OpenAI's moderation order; categories not named here follow, by name.
ORDER = ("sexual", "sexual/minors", "violence", "violence/graphic", "self-harm", "self-harm/intent",
         "self-harm/instructions", "hate", "hate/threatening", "harassment", "harassment/threatening",
         "illicit", "illicit/violent")


class TermsError(ValueError):
    """A term data file is malformed; the message names the file and what is wrong with it."""


# ---- normalisation ---------------------------------------------------------------------------------

# Letters that look like Latin ones (after casefold), and punctuation variants, mapped to ASCII.
_LOOKALIKES = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
    "ԁ": "d", "ӏ": "l", "һ": "h", "ԛ": "q", "ԝ": "w", "к": "k",
    "α": "a", "ο": "o", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
    "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ı": "i", "æ": "ae", "œ": "oe",
    "’": "'", "‘": "'", "ʼ": "'", "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-",
})
_WORD = r"[^\W_]"  # a letter or a digit, in any script
# 3+ single letters or digits, each apart from the next by 1-3 other characters: "p.o.r.n", "s e x".
_SPELLED_APART = re.compile(rf"(?<!{_WORD}){_WORD}(?:[\W_]{{1,3}}{_WORD}){{2,}}(?!{_WORD})")


def normalise(text: str) -> str:
    """The text that terms are matched against (and the classifier reads).

    NFKC, casefold, look-alike letters to ASCII, no accents or zero-width characters, and letters
    spelled apart joined ("p.o.r.n" -> "porn"). A joined word that starts with "a" or "i", often a
    word of its own, is also added without it at the end, after a full stop ("a s e x y" -> "asexy . sexy").
    """
    text = unicodedata.normalize("NFKC", text).casefold().translate(_LOOKALIKES)
    if not text.isascii():
        # Zero-width characters (Cf) are dropped, not spaced: they are put inside words to split them.
        kept = (c for c in unicodedata.normalize("NFKD", text) if unicodedata.category(c) not in ("Mn", "Me", "Cf"))
        text = unicodedata.normalize("NFC", "".join(kept))
    extra: list[str] = []

    def join(match: re.Match[str]) -> str:
        words = _spelled_words(match.group())
        if len(words[0]) > 3 and words[0][0] in "ai":
            extra.append(words[0][1:])
        return " ".join(words)

    text = _SPELLED_APART.sub(join, text)
    return f"{text} . {' '.join(extra)}" if extra else text


def _spelled_words(run: str) -> list[str]:
    """"n-a-k-e-d k-i-d-s" -> naked, kids: a word ends where the separator is not the usual one."""
    parts = re.split(r"([\W_]+)", run)
    letters, separators = parts[0::2], parts[1::2]
    usual = Counter(separators).most_common(1)[0][0]
    words = [letters[0]]
    for separator, letter in zip(separators, letters[1:]):
        if separator == usual:
            words[-1] += letter
        else:
            words.append(letter)
    return words


# ---- compiling terms -------------------------------------------------------------------------------

# What each letter may be written as. Symbols only inside a word: at its edges "!" or "*" is punctuation.
_LEET = {"a": "4", "b": "8", "e": "3", "g": "9", "i": "1", "l": "1", "o": "0", "s": "5", "t": "7"}
_LEET_EDGE = {"a": "@", "s": "$"}
_LEET_INSIDE = {"a": "@*", "e": "*", "i": "!|*", "l": "|", "o": "*", "s": "$", "t": "+", "u": "*v"}
_OBFUSCATION = set("".join(_LEET.values()) + "".join(_LEET_EDGE.values()) + "".join(_LEET_INSIDE.values())) - {"v"}
_GAP = r"[\s_-]*"  # between the words of a phrase: "child porn", "child-porn", "child_porn", "childporn"
TERM_SYNTAX = re.compile(r"[a-z0-9']+\*?(?:[ -][a-z0-9']+\*?)*")


def _letter(char: str, edge: bool) -> str:
    written = char + _LEET.get(char, "") + _LEET_EDGE.get(char, "") + ("" if edge else _LEET_INSIDE.get(char, ""))
    options = "".join(dict.fromkeys(written))
    return re.escape(options) if len(options) == 1 else "[" + re.escape(options) + "]"


def _word_units(word: str, obfuscated: bool) -> list[str]:
    """One unit per run of a letter: the run as written or, obfuscated, in leetspeak or repeated 3+ times
    ("pooorn"; a doubled letter is not accepted, so that "raped" does not match "rapped")."""
    units, at = [], 0
    for run in re.finditer(r"(.)\1*", word.rstrip("*")):
        char, count = run.group(1), len(run.group())
        if char == "'":
            units.append("'?")
        elif not obfuscated:
            units.append(re.escape(run.group()))
        else:
            cls = _letter(char, edge=at == 0 or at + count == len(word.rstrip("*")))
            units.append(f"{cls}(?:{cls}{{2,}})?" if count == 1 else f"{cls}{{{count},}}")
        at += count
    return units + ([_WORD + "*"] if word.endswith("*") else [])


def _trie_regex(sequences: Iterable[list[str]]) -> str:
    """One regex for many unit sequences, common prefixes factored out (a scan tries ~26 branches, not 100s)."""
    root: dict = {}
    for units in sequences:
        node = root
        for unit in units:
            node = node.setdefault(unit, {})
        node[""] = {}  # the end of a sequence

    def emit(node: dict) -> str:
        branches = [unit + emit(child) for unit, child in node.items() if unit]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 and "" not in node else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(root)


def _compile(phrases: Iterable[str], obfuscated: bool) -> re.Pattern[str]:
    sequences = []
    for phrase in phrases:
        units: list[str] = []
        for i, word in enumerate(re.split(r"[ -]+", phrase)):
            units += ([_GAP] if i else []) + _word_units(word, obfuscated)
        sequences.append(units)
    return re.compile(rf"(?<!{_WORD}){_trie_regex(sequences)}(?!{_WORD})")


@dataclass(frozen=True)
class AllowList:
    """Ordinary phrases that contain terms ("naked eye"), blanked out before terms are matched."""

    phrases: frozenset[str]
    pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:  # as written: an obfuscated allowed phrase is not worth allowing
        object.__setattr__(self, "pattern", _compile(sorted(self.phrases), obfuscated=False) if self.phrases else None)

    @functools.lru_cache(maxsize=16)  # a prompt is masked once per file, not once per list; lexicons live for good
    def mask(self, normalised: str) -> str:
        return self.pattern.sub(" ", normalised) if self.pattern else normalised


@dataclass(frozen=True)
class TermList:
    """Terms compiled into one regex (obfuscations included), and the allow phrases that hide them."""

    terms: frozenset[str]
    allow: AllowList = AllowList(frozenset())
    pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", _compile(sorted(self.terms), obfuscated=True) if self.terms else None)

    def found_in(self, normalised: str) -> bool:
        if self.pattern is None:
            return False
        # A match made mostly of digits and symbols is a number or punctuation: "7175" is not "tits".
        return any(_mostly_letters(match.group()) for match in self.pattern.finditer(self.allow.mask(normalised)))


def _mostly_letters(text: str) -> bool:
    letters = sum(c.isalpha() for c in text)
    return letters > 0 and letters >= sum(c.isdigit() or c in _OBFUSCATION for c in text)


@dataclass(frozen=True)
class Pair:
    """A term of `first` and a term of `second` in one prompt block the category at `level`."""

    level: str
    first: TermList
    second: TermList


@dataclass(frozen=True)
class Category:
    name: str
    low: TermList
    auto: TermList
    pairs: tuple[Pair, ...] = ()
    lists: dict[str, TermList] = field(default_factory=dict)  # named lists, for pairs and callers

    def blocks(self, normalised: str, level: str) -> bool:
        if self.low.found_in(normalised) or (level == "auto" and self.auto.found_in(normalised)):
            return True
        return any((level == "auto" or pair.level == "low") and pair.first.found_in(normalised)
                   and pair.second.found_in(normalised) for pair in self.pairs)


@dataclass(frozen=True)
class Lexicon:
    categories: tuple[Category, ...]
    allow: AllowList  # every category's allow phrases

    def match(self, prompt: str, level: str) -> list[str]:
        if level not in LEVELS:
            raise ValueError(f"`level` must be 'auto' or 'low', but is {level!r}.")
        normalised = normalise(prompt)
        return [category.name for category in self.categories if category.blocks(normalised, level)]

    def category(self, name: str) -> Category:
        for category in self.categories:
            if category.name == name:
                return category
        raise KeyError(f"no term file defines category {name!r}")


# ---- loading ---------------------------------------------------------------------------------------

_KEYS = {"category", "low", "auto", "allow", "lists", "pairs"}
_PAIR_KEYS = {"level", "first", "second"}


def load(folder: Traversable | Path) -> Lexicon:
    """Every `*.toml` in `folder`, checked; raises TermsError naming the file and the problem."""
    raw: dict[str, tuple[str, dict]] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        try:
            data = tomllib.loads(entry.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise TermsError(f"{entry.name}: not valid TOML: {exc}") from exc
        raw[_check_file(entry.name, data)] = (entry.name, data)  # one file per category: it is named after it
    if not raw:
        raise TermsError(f"{folder}: no term files (*.toml) found.")
    built = {name: _build(name, file, data, raw) for name, (file, data) in raw.items()}
    allow = AllowList(frozenset(phrase for _, data in raw.values() for phrase in data.get("allow", [])))
    return Lexicon(tuple(built[name] for name in in_order(built)), allow)


def _check_file(file: str, data: dict) -> str:
    unknown = set(data) - _KEYS
    if unknown:
        raise TermsError(f"{file}: unknown keys {sorted(unknown)}; a term file has {sorted(_KEYS)}.")
    name = data.get("category")
    if not isinstance(name, str) or not name:
        raise TermsError(f"{file}: `category` must be a category name such as \"violence/graphic\".")
    if file != name.replace("/", "-") + ".toml":
        raise TermsError(f"{file}: the file for category {name!r} must be named {name.replace('/', '-')}.toml.")
    seen: dict[str, str] = {}
    for key in ("low", "auto"):
        for term in _terms(file, key, data.get(key, [])):
            if term in seen:
                raise TermsError(f"{file}: {term!r} is in both `{seen[term]}` and `{key}`; keep it in one.")
            seen[term] = key
    _terms(file, "allow", data.get("allow", []))
    lists = data.get("lists", {})
    if not isinstance(lists, dict):
        raise TermsError(f"{file}: `lists` must be a table of named term lists.")
    for list_name, terms in lists.items():
        _terms(file, f"lists.{list_name}", terms)
    pairs = data.get("pairs", [])
    if not isinstance(pairs, list) or not all(isinstance(pair, dict) for pair in pairs):
        raise TermsError(f"{file}: `pairs` must be an array of tables ([[pairs]]).")
    for pair in pairs:
        if set(pair) != _PAIR_KEYS:
            raise TermsError(f"{file}: each [[pairs]] has exactly the keys {sorted(_PAIR_KEYS)}, not {sorted(pair)}.")
        if pair["level"] not in LEVELS:
            raise TermsError(f"{file}: a pair's `level` must be \"low\" or \"auto\", not {pair['level']!r}.")
    if not seen and not pairs:
        raise TermsError(f"{file}: category {name!r} has no terms (`low`, `auto`) and no pairs.")
    return name


def _terms(file: str, key: str, terms: object) -> list[str]:
    if not isinstance(terms, list) or not all(isinstance(term, str) for term in terms):
        raise TermsError(f"{file}: `{key}` must be a list of strings.")
    for term in terms:
        if not TERM_SYNTAX.fullmatch(term):
            raise TermsError(f"{file}: term {term!r} in `{key}`: a term is lowercase ASCII words (a-z, 0-9, ') "
                             "separated by single spaces or hyphens, each word with an optional trailing *.")
    return terms


def _build(name: str, file: str, data: dict, raw: dict[str, tuple[str, dict]]) -> Category:
    allow = AllowList(frozenset(data.get("allow", [])))
    lists = {key: TermList(frozenset(terms), allow) for key, terms in data.get("lists", {}).items()}

    def named(names: object) -> TermList:
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise TermsError(f"{file}: a pair's `first` and `second` are lists of names of lists or categories.")
        terms: set[str] = set()
        allowed: set[str] = set()
        for list_name in names:
            if list_name in lists and list_name in raw:
                raise TermsError(f"{file}: {list_name!r} names both a list here and a category; rename the list.")
            if list_name in lists:
                terms |= lists[list_name].terms
                allowed |= allow.phrases
            elif list_name in raw:  # a category: its low and auto terms, with its allow phrases
                other = raw[list_name][1]
                terms |= set(other.get("low", [])) | set(other.get("auto", []))
                allowed |= set(other.get("allow", []))
            else:
                raise TermsError(f"{file}: a pair names {list_name!r}, which is neither a list in [lists] "
                                 f"({sorted(lists)}) nor a category ({sorted(raw)}).")
        if len(names) == 1 and names[0] in lists:
            return lists[names[0]]
        return TermList(frozenset(terms), AllowList(frozenset(allowed)))

    pairs = tuple(Pair(p["level"], named(p["first"]), named(p["second"])) for p in data.get("pairs", []))
    return Category(name, TermList(frozenset(data.get("low", [])), allow),
                    TermList(frozenset(data.get("auto", [])), allow), pairs, lists)


@functools.cache
def lexicon() -> Lexicon:
    """The bundled term lists (`terms/*.toml`), loaded and compiled once."""
    return load(resources.files(__package__) / "terms")


def match_terms(prompt: str, level: str) -> list[str]:
    """The categories whose terms block `prompt` at `level` ("auto" or "low"), in OpenAI's order."""
    return lexicon().match(prompt, level)


def without_allowed(prompt: str) -> str:
    """`prompt` normalised, with every category's allow phrases blanked out (what the classifier reads)."""
    return lexicon().allow.mask(normalise(prompt))


def in_order(categories: Iterable[str]) -> list[str]:
    """Categories without repeats, in OpenAI's order, then any others by name."""
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(set(categories), key=lambda name: (rank.get(name, len(ORDER)), name))


def names_minors(prompt: str) -> bool:
    """Whether the prompt names minors (`sexual/minors`' list `minors`): nudity then blocks at every level."""
    return lexicon().category("sexual/minors").lists["minors"].found_in(normalise(prompt))
