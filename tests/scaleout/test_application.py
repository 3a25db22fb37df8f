"""The Serve application's settings: Ray's defaults replaced by Darkroom's, per model and globally."""

from __future__ import annotations

import warnings

import pytest

from darkroom.catalog import build_catalog
from darkroom.config import ConfigError, ModelConfig, load_settings
from darkroom.scaleout.application import actor_options, deployment_name, engine_models, replica_count
from darkroom.scaleout.autoscaling import POLICY, PUSH_INTERVAL, WorkPolicy, autoscaling_config, replicas_for
from darkroom.scaleout.replica import job_work
from darkroom.engines.base import GenerationJob


def test_graceful_shutdown_defaults_to_the_request_timeout_plus_10():
    assert load_settings(None, request_timeout_seconds=120).ray_graceful_shutdown == 130
    assert load_settings(None, request_timeout_seconds=120, ray_graceful_shutdown_seconds=200).ray_graceful_shutdown \
        == 200


def test_graceful_shutdown_below_the_request_timeout_is_refused():
    with pytest.raises(ConfigError, match="ray_graceful_shutdown_seconds .20. is below request_timeout_seconds"):
        load_settings(None, request_timeout_seconds=120, ray_graceful_shutdown_seconds=20)


def test_ray_defaults():
    settings = load_settings(None)
    assert (settings.ray_address, settings.ray_ingress_replicas, settings.ray_max_ongoing_requests) == ("", 1, 5)


def test_resources_pin_a_model_and_are_not_engine_options():
    model = ModelConfig(name="m", num_gpus=0.5, num_cpus=2, resources={"node_a": 1})
    assert actor_options(model) == {"num_cpus": 2, "num_gpus": 0.5, "resources": {"node_a": 1}}
    assert model.engine_options == {}


def test_fixed_or_autoscaled_replicas():
    assert replica_count(ModelConfig(name="m", min_replicas=2, max_replicas=2)) == {"num_replicas": 2}
    scaled = replica_count(ModelConfig(name="m", min_replicas=1, max_replicas=3, target_work_per_replica=50,
                                       scale_down_delay_seconds=5))
    config = scaled["autoscaling_config"]
    assert (config["min_replicas"], config["max_replicas"]) == (1, 3)
    assert (config["upscale_delay_s"], config["downscale_delay_s"]) == (2.0, 5.0)
    assert config["policy"] == {"policy_function": POLICY, "policy_kwargs": {"target_work_per_replica": 50}}


@pytest.mark.parametrize("pushed, window", [(None, 25.0), ("10", 25.0), ("2", 5.0), ("0.5", 5.0), ("soon", 25.0)])
def test_the_look_back_window_holds_two_pushes_and_ray_takes_it_without_a_warning(monkeypatch, pushed, window):
    from ray.serve.config import AutoscalingConfig

    monkeypatch.delenv(PUSH_INTERVAL, raising=False)
    if pushed is not None:
        monkeypatch.setenv(PUSH_INTERVAL, pushed)
    config = autoscaling_config(1, 2, 50)
    assert config["look_back_period_s"] == window and config["look_back_period_s"] >= 2 * config["metrics_interval_s"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # Ray: a window not above the interval will be an error
        AutoscalingConfig(**{k: v for k, v in config.items() if k != "policy"})


def test_min_above_max_replicas_is_refused():
    with pytest.raises(ConfigError, match="min_replicas .3. is above max_replicas .1."):
        load_settings(None, models=[{"name": "m", "min_replicas": 3}])


def test_one_deployment_per_engine_instance():
    settings = load_settings(None, models=[{"name": "house", "engine": "sketch"}])
    names = engine_models(build_catalog(settings))
    assert len(names) == 2 and "house" in names  # the shared sketch engine of the default names, and house
    assert deployment_name("gpt-image-1.5") == "model-gpt-image-1.5"
    assert deployment_name("org/model x") == "model-org_model_x"


def test_work_counts_pixels_images_and_steps():
    small = GenerationJob(prompt="p", width=512, height=512, quality="low", seeds=(1,), steps=4)
    big = GenerationJob(prompt="p", width=2048, height=2048, quality="high", seeds=(1,), steps=50)
    assert job_work(big) / job_work(small) == pytest.approx(200)


class _Context:
    def __init__(self, work, target=1, jobs=None, queued=0):
        self.aggregated_metrics = {"work": work, "jobs": jobs or {}} if work is not None else {}
        self.target_num_replicas = target
        self.total_queued_requests = queued
        self.policy_state = {}


def test_the_policy_asks_for_replicas_by_work():
    policy = WorkPolicy(target_work_per_replica=100)
    assert policy(_Context({"a": 150.0, "b": 100.0}))[0] == 3
    assert policy(_Context({"a": 0.0}))[0] == 0  # Ray's min_replicas bound keeps the floor
    assert policy(_Context(None, target=2))[0] == 2  # no figures yet: keep the count
    assert replicas_for(1, 100) == 1


def test_requests_queued_in_front_of_the_replicas_count_as_their_mean_job():
    policy = WorkPolicy(target_work_per_replica=100)
    # two replicas hold 4 jobs, 200 megapixel-steps: 50 a job; 4 more wait in Ray's queue: 200 more
    assert policy(_Context({"a": 100.0, "b": 100.0}, jobs={"a": 2, "b": 2}, queued=4))[0] == 4
    assert policy(_Context({"a": 100.0}, jobs={"a": 2}, queued=lambda: 2))[0] == 2  # Ray may pass a callable
    assert policy(_Context({"a": 0.0}, jobs={"a": 0}, queued=3))[0] == 3  # none held: a target's worth each


def test_build_sets_each_deployment_from_darkroom_settings(tmp_path):
    path = tmp_path / "darkroom.toml"
    path.write_text('database_url = "postgresql+psycopg://u@h/d"\nstorage = "s3"\ns3_bucket = "b"\n'
                    "request_timeout_seconds = 120\nray_ingress_replicas = 2\nray_ingress_num_cpus = 0.5\n"
                    "ray_max_ongoing_requests = 3\n"
                    '[[models]]\nname = "big"\nengine = "sketch"\nnum_gpus = 0.5\nresources = {gpu_a = 1}\n'
                    "min_replicas = 1\nmax_replicas = 3\nmax_queue = 7\n")
    from darkroom.scaleout.application import build

    ingress = build({"config": str(path)})._bound_deployment
    assert (ingress.name, ingress.num_replicas, ingress.ray_actor_options["num_cpus"]) == ("api", 2, 0.5)
    assert ingress._deployment_config.graceful_shutdown_timeout_s == 130  # not Ray's 20 s
    config, models, board = ingress.init_args
    assert config == str(path) and set(models) == {"dall-e-2", "big"}
    board = board._bound_deployment  # the figures deployment: one replica, no CPU, shared by all
    assert (board.name, board.num_replicas, board.ray_actor_options["num_cpus"]) == ("figures", 1, 0)
    assert models["big"]._bound_deployment.init_args[2]._bound_deployment is board
    big = models["big"]._bound_deployment
    assert big.name == "model-big"
    assert (big.max_ongoing_requests, big.max_queued_requests) == (3, 7)
    assert big.ray_actor_options == {"num_cpus": 1.0, "num_gpus": 0.5, "resources": {"gpu_a": 1.0}}
    assert big._deployment_config.graceful_shutdown_timeout_s == 130
    scaling = big._deployment_config.autoscaling_config
    assert (scaling.min_replicas, scaling.max_replicas) == (1, 3)
    sketch = models["dall-e-2"]._bound_deployment
    assert (sketch.name, sketch.num_replicas, sketch.max_queued_requests) == ("model-dall-e-2", 1, 64)


async def test_every_answer_names_the_ingress_replica_streams_included():
    import httpx
    from fastapi import FastAPI
    from fastapi.responses import StreamingResponse

    from darkroom.scaleout.application import IngressHeader

    app = FastAPI()
    app.get("/plain")(lambda: {"ok": True})
    app.get("/stream")(lambda: StreamingResponse(iter([b"a", b"b"]), media_type="text/event-stream"))
    app.add_middleware(IngressHeader, replica="api#abc")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        for path, body in (("/plain", b'{"ok":true}'), ("/stream", b"ab"), ("/missing", None)):
            answer = await client.get(path)
            assert answer.headers["x-darkroom-ingress"] == "api#abc", path
            assert body is None or answer.content == body
