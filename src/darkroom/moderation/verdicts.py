"""The local prompt check's verdicts, remembered: a prompt checked at a level is not checked again.

    verdicts = PromptVerdicts(4096)
    verdicts.get(prompt, level)            # the categories that blocked it ([]: allowed), or None if unseen
    verdicts.put(prompt, level, found)

The local checks (term lists and the classifier, `text.py`) are pure functions of the prompt and the
level's thresholds, which are fixed for the life of a `Moderator`, so a remembered verdict is exactly
the verdict a new check would give. The key is the level and a 128-bit BLAKE2b digest of the prompt:
one level's verdict can never answer for another, and memory stays bounded however long the prompts
(at most `size` entries of ~200 bytes; the least recently used goes first). Only the local verdict is
kept: OpenAI's endpoint, when configured, is asked every time.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict


class PromptVerdicts:
    """A bounded, thread-safe LRU map of (level, prompt digest) -> blocked categories."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, bytes], tuple[str, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, prompt: str, level: str) -> list[str] | None:
        key = _key(prompt, level)
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return list(found)

    def put(self, prompt: str, level: str, categories: list[str]) -> None:
        if self.size <= 0:
            return
        key = _key(prompt, level)
        with self._lock:
            self._entries[key] = tuple(categories)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def _key(prompt: str, level: str) -> tuple[str, bytes]:
    return level, hashlib.blake2b(prompt.encode("utf-8", "surrogatepass"), digest_size=16).digest()
