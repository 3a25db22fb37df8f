"""Darkroom as a gateway with the official npm `openai` SDK: tests/node/gateway.test.mjs against a live gateway
fronting a live Darkroom upstream: the session's pair of `conftest.py` (the gateway serves gpt-image-1 and
dall-e-2, among others, from the upstream, whose key it reads from UPSTREAM_KEY).

The seed scenario, an edit with a mask, a variation and a stream with partials, each made through the gateway
and directly with the same seed: the same image bytes both ways. Needs the SDK (`npm ci --prefix tests/node`);
without it the test fails, as tests/test_sdk_node.py explains.
"""

from __future__ import annotations

import re

import pytest

from ..conftest import LiveServer
from ..test_sdk_node import REPO, _explain, _node, _run, write_image_fixtures
from .conftest import GATEWAY_KEY, UPSTREAM_KEY

TESTS = 5  # in tests/node/gateway.test.mjs


def test_node_sdk_through_the_gateway(gateway: LiveServer, upstream: LiveServer, tmp_path):
    node = _node()
    fixtures = write_image_fixtures(tmp_path / "fixtures")
    proc = _run([node, "--test", "--test-reporter=spec", "tests/node/gateway.test.mjs"], cwd=REPO,
                env={"DARKROOM_GATEWAY_URL": gateway.v1, "DARKROOM_GATEWAY_KEY": GATEWAY_KEY,
                     "DARKROOM_UPSTREAM_URL": upstream.v1, "DARKROOM_UPSTREAM_KEY": UPSTREAM_KEY,
                     "DARKROOM_FIXTURES": str(fixtures)})
    passed = re.search(r"^ℹ pass (\d+)$", proc.stdout, re.MULTILINE)
    if proc.returncode != 0 or "ℹ fail 0" not in proc.stdout or not passed or int(passed.group(1)) < TESTS:
        pytest.fail(f"node --test failed: {_explain(proc, gateway)}\n--- upstream log (tail) ---\n"
                    f"{upstream.log()[-2000:]}", pytrace=False)
