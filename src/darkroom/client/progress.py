"""The client's progress display, always on stderr (stdout carries only paths, or the `--json` document).

On a terminal it is one line, redrawn in place with the time elapsed (`queued (seed 42)  1.2s`,
`partial 2 of 2, image 1 of 2  2.0s`, a batch's `[#######-----] 7/12  done 6  failed 1  skipped 0`), and
cleared when the command prints its result. Anywhere else (a pipe, a log file, CI) each new state is one
plain line, `darkroom: partial 1 of 2`, so that logs stay readable and nothing is redrawn.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

_TICK_SECONDS = 0.25


class Progress:
    """A status display for one command. Thread-safe: batch workers report through one instance."""

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self._lock = threading.Lock()
        self._text = ""
        self._last_plain = ""
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def status(self, text: str) -> None:
        """The current state; replaces the previous one (a terminal) or prints a line when it changed."""
        with self._lock:
            self._text = text
            if self.tty:
                self._draw()
                self._start_ticker()
            elif text != self._last_plain:
                self._last_plain = text
                print(f"darkroom: {text}", file=self.stream, flush=True)

    def line(self, text: str) -> None:
        """A line that stays (a batch line's outcome, a warning); the status is redrawn under it."""
        with self._lock:
            if self.tty:
                self.stream.write("\r\x1b[K")
            print(f"darkroom: {text}", file=self.stream, flush=True)
            if self.tty and self._text:
                self._draw()

    def bar(self, done: int, failed: int, skipped: int, total: int) -> None:
        """A batch's overall progress: lines finished of all lines, and how each ended (a terminal only:
        elsewhere each line's outcome is its own plain line, numbered `[k/total]`)."""
        if self.tty:
            finished = done + failed + skipped
            width = 24
            filled = width * finished // total if total else width
            self.status(f"[{'#' * filled}{'-' * (width - filled)}] {finished}/{total}  done {done}  "
                        f"failed {failed}  skipped {skipped}")

    def clear(self) -> None:
        """Stop redrawing and remove the status line (before the command prints its result)."""
        self._stop.set()
        with self._lock:
            if self.tty and self._text:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
            self._text = ""

    def _draw(self) -> None:
        elapsed = time.monotonic() - self._started
        self.stream.write(f"\r\x1b[K{self._text}  {elapsed:.1f}s")
        self.stream.flush()

    def _start_ticker(self) -> None:
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="darkroom-progress", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(_TICK_SECONDS):
            with self._lock:
                if self._text:
                    self._draw()


class Quiet:
    """A display that shows nothing: each request of a batch, whose progress is the batch's bar."""

    def status(self, text: str) -> None:
        pass
