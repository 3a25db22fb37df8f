"""Prompt moderation: `moderation=auto` (default) and `low`, from the term lists in `terms.toml`.

    check_prompt(prompt, level) -> the blocked categories ([] when the prompt may run)

Categories use OpenAI's moderation names (sexual, sexual/minors, violence-graphic, self-harm,
hate, illicit). `low` blocks only the clearest terms; `auto` blocks more. Anything that pairs
minors with sexual content is blocked at every level.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from importlib import resources

Level = str  # "auto" | "low"


@cache
def _lists() -> dict[str, dict[str, re.Pattern[str] | None]]:
    data = tomllib.loads(resources.files(__package__).joinpath("terms.toml").read_text("utf-8"))
    return {
        category: {level: _pattern(entry.get(level, [])) for level in ("terms", "low", "auto")}
        for category, entry in data.items()
    }


def _pattern(terms: list[str]) -> re.Pattern[str] | None:
    if not terms:
        return None
    parts = [re.escape(t.rstrip("*")).replace(r"\ ", r"\s+") + (r"\w*" if t.endswith("*") else "") for t in terms]
    return re.compile(r"\b(?:" + "|".join(parts) + r")\b", re.IGNORECASE)


def _hits(pattern: re.Pattern[str] | None, text: str) -> bool:
    return pattern is not None and pattern.search(text) is not None


def check_prompt(prompt: str, level: Level = "auto") -> list[str]:
    """The categories that block `prompt` at `level` (`auto` or `low`); empty when it may run."""
    lists = _lists()
    blocked = []
    sexual = lists["sexual"]
    if _hits(lists["minors"]["terms"], prompt) and (_hits(sexual["low"], prompt) or _hits(sexual["auto"], prompt)):
        blocked.append("sexual/minors")
    for category, entry in lists.items():
        if category == "minors":
            continue
        if _hits(entry["low"], prompt) or (level == "auto" and _hits(entry["auto"], prompt)):
            blocked.append(category)
    return blocked
