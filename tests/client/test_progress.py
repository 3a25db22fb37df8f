"""The progress display on a real terminal: one line redrawn in place, then cleared."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from .conftest import KEY


def test_on_a_terminal_the_status_line_is_redrawn_and_shows_the_partials(live, tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DARKROOM_", "OPENAI_"))}
    env.update(OPENAI_BASE_URL=live.v1, OPENAI_API_KEY=KEY)
    process = subprocess.Popen([sys.executable, "-m", "darkroom", "generate", "a windmill", "-m", "gpt-image-tiny",
                                "--size", "64x64", "--seed", "3"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=follower)
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    stdout = process.communicate(timeout=60)[0].decode()
    os.close(leader)
    assert process.returncode == 0, screen
    text = screen.decode()
    assert stdout == "a-windmill-3-0.png\n"  # the paths alone on stdout
    assert "\r\x1b[Kqueued (seed 3, request req_" in text
    assert "\r\x1b[Kpartial 1 of 2" in text and "\r\x1b[Kpartial 2 of 2" in text
    assert "darkroom: partial" not in text  # no plain lines on a terminal
    assert text.rstrip().endswith("darkroom: 1 image saved, seed 3, request " + text.rsplit("request ", 1)[1].strip())
