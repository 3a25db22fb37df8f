"""A real Darkroom upstream and a Darkroom gateway in front of it, both `darkroom serve` processes.

    upstream   a plain Darkroom (sketch engine), with its own API key
    gateway    serves `gpt-image-1`, `gpt-image-1.5` and `dall-e-2` from the upstream (engine =
               "upstream", the upstream key read from UPSTREAM_KEY), `hero`: a route whose first
               target cannot be reached, `dall-e-2-links`, which passes the upstream's links through,
               and `guarded`, which has Darkroom's own moderation too
"""

from __future__ import annotations

import pytest

from ..conftest import LiveServer, closed_port, start_server, stop_server

UPSTREAM_KEY = "sk-upstream-secret-0123456789abcdef"
GATEWAY_KEY = "sk-gateway-test-key"


def gateway_config(upstream: LiveServer, extra: str = "") -> str:
    return f"""
api_keys = ["{GATEWAY_KEY}"]
""" + "".join(f"""
[[models]]
name = "{name}"
engine = "upstream"
family = "{family}"
base_url = "{upstream.v1}"
api_key_env = "UPSTREAM_KEY"
""" for name, family in (("gpt-image-1", "gpt-image"), ("gpt-image-1.5", "gpt-image"), ("dall-e-2", "dall-e-2"))) + f"""
[[models]]
name = "dall-e-2-links"
engine = "upstream"
family = "dall-e-2"
base_url = "{upstream.v1}"
api_key_env = "UPSTREAM_KEY"
upstream_model = "dall-e-2"
pass_urls = true

[[models]]
name = "guarded"
engine = "upstream"
family = "gpt-image"
base_url = "{upstream.v1}"
api_key_env = "UPSTREAM_KEY"
upstream_model = "gpt-image-1"
moderation = true

[[models]]
name = "nowhere"
engine = "upstream"
base_url = "http://127.0.0.1:{closed_port()}/v1"
max_retries = 0

[[models]]
name = "hero"
family = "gpt-image"
targets = ["nowhere", "gpt-image-1"]
""" + extra


@pytest.fixture(scope="session")
def upstream(tmp_path_factory: pytest.TempPathFactory):
    live = start_server(tmp_path_factory.mktemp("upstream"), f'api_keys = ["{UPSTREAM_KEY}"]\n', api_key=UPSTREAM_KEY)
    yield live
    stop_server(live)


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory, upstream: LiveServer):
    live = start_server(tmp_path_factory.mktemp("gateway"), gateway_config(upstream), api_key=GATEWAY_KEY,
                        env={"UPSTREAM_KEY": UPSTREAM_KEY})
    yield live
    alive = live.process.poll() is None
    stop_server(live)
    assert alive, f"the gateway died during the tests:\n{live.log()}"
