"""deploy/kuberay/rayservice.yaml stays valid: it parses, and it names only settings Darkroom reads.

The manifest is checked the way the cluster would read it, without a cluster or ray: every YAML
document parses and has its kind's required fields; the RayService's serveConfigV2 (YAML in a
string) names Darkroom's application builder with a config path that every Ray pod mounts from the
ConfigMap, and its Service reaches Serve's port; every `DARKROOM_*` variable it sets is a `Settings`
field; the embedded darkroom.toml loads with Darkroom's own `load_settings`, its per-model keys are
`ModelConfig` fields (or, for diffusers models, engine options whose values the engine accepts);
each model's custom resources are offered by a worker group that can hold its replicas; and the
shutdown timeouts nest (request timeout < Ray's graceful shutdown < the pods' grace period, and the
old cluster outlives its requests after an upgrade).
Takes well under a second.
"""

from __future__ import annotations

import functools
import json
import os
import tomllib
from pathlib import Path, PurePosixPath

import pytest
import yaml

from darkroom.config import ModelConfig, Settings, load_settings
from darkroom.engines.diffusers.options import DiffusersOptions

MANIFEST = Path(__file__).resolve().parent.parent / "deploy" / "kuberay" / "rayservice.yaml"
BUILDER = "darkroom.scaleout.application:build"
# Variables that are not settings but that Darkroom reads: the config file (load_settings).
NOT_SETTINGS = {"DARKROOM_CONFIG"}
# Fields the manifest must name under each kind, as dotted paths.
REQUIRED = {
    "ConfigMap": ["metadata.name", "data"],
    "RayService": ["metadata.name", "spec.serveConfigV2", "spec.serveService.metadata.name",
                   "spec.rayClusterConfig.headGroupSpec.template.spec", "spec.rayClusterConfig.workerGroupSpecs"],
}


@functools.cache  # parsed once; no test changes what it returns
def _documents() -> list[dict]:
    with MANIFEST.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def _one(kind: str) -> dict:
    (doc,) = [d for d in _documents() if d["kind"] == kind]
    return doc


def _get(doc: dict, dotted: str):
    for part in dotted.split("."):
        doc = doc[part]
    return doc


def _cluster() -> dict:
    return _one("RayService")["spec"]["rayClusterConfig"]


def _groups() -> list[tuple[str, dict]]:
    """(name, group spec) of the head group and every worker group."""
    cluster = _cluster()
    return [("head", cluster["headGroupSpec"])] + [(g["groupName"], g) for g in cluster["workerGroupSpecs"]]


def _serve_config() -> dict:
    return yaml.safe_load(_one("RayService")["spec"]["serveConfigV2"])


def _config_path() -> PurePosixPath:
    (app,) = _serve_config()["applications"]
    return PurePosixPath(app["args"]["config"])


def _toml_text() -> str:
    return _one("ConfigMap")["data"][_config_path().name]


def _toml() -> dict:
    return tomllib.loads(_toml_text())


def _env() -> dict[str, dict]:
    """Every env entry of every container of every group, by name (the same everywhere)."""
    entries: dict[str, dict] = {}
    for name, group in _groups():
        for container in group["template"]["spec"]["containers"]:
            for entry in container.get("env", []):
                assert entries.setdefault(entry["name"], entry) == entry, f"{entry['name']} differs in {name}"
    return entries


def _offered_resources(group: dict) -> dict[str, float]:
    """The custom resources of a group's `ray start --resources '"{...}"'`: JSON inside a JSON string."""
    raw = group["rayStartParams"].get("resources")
    if raw is None:
        return {}
    value = json.loads(raw)
    return json.loads(value) if isinstance(value, str) else value


def test_every_document_has_its_kind_and_required_fields():
    docs = _documents()
    # The API's Service is the RayService's serveService, which KubeRay keeps on the active cluster.
    assert sorted(d["kind"] for d in docs) == ["ConfigMap", "RayService"]
    for doc in docs:
        assert doc["apiVersion"] == ("ray.io/v1" if doc["kind"] == "RayService" else "v1")
        for dotted in REQUIRED[doc["kind"]]:
            assert _get(doc, dotted), f"{doc['kind']} lacks {dotted}"
    assert not [d for d in docs if d["kind"] == "Secret"], "Secrets are referenced, never filled, here"


def test_serve_config_is_valid_for_ray_serve_and_leaves_the_access_log_to_darkroom():
    """Ray's own schema for a serveConfigV2 (what KubeRay hands to Serve), and the access log as `--ray` sets it."""
    schema = pytest.importorskip("ray.serve.schema")
    config = schema.ServeDeploySchema(**_serve_config())
    (app,) = config.applications
    assert app.logging_config is not None and app.logging_config.enable_access_log is False


def test_serve_config_names_the_builder_and_a_config_file_every_pod_mounts():
    serve = _serve_config()
    (app,) = serve["applications"]
    assert app["import_path"] == BUILDER and app["route_prefix"] == "/"
    path = _config_path()
    configmap = _one("ConfigMap")
    assert path.name in configmap["data"]
    for name, group in _groups():
        pod = group["template"]["spec"]
        volumes = {v["name"] for v in pod["volumes"] if v.get("configMap", {}).get("name") == configmap["metadata"]["name"]}
        mounts = [m for c in pod["containers"] for m in c.get("volumeMounts", []) if m["name"] in volumes]
        assert [PurePosixPath(m["mountPath"]) for m in mounts] == [path.parent], f"{name} does not mount {path}"
    assert _env()["DARKROOM_CONFIG"]["value"] == str(path)
    # The Service reaches Serve's HTTP port: KubeRay takes it from the head container's port named
    # "serve", and leaves the selector to itself (a selector given here would be ignored).
    service = _one("RayService")["spec"]["serveService"]["spec"]
    assert "selector" not in service
    assert [(p["name"], p["port"]) for p in service["ports"]] == [("serve", serve["http_options"]["port"])]
    (head,) = _cluster()["headGroupSpec"]["template"]["spec"]["containers"]
    assert {"name": "serve", "containerPort": serve["http_options"]["port"]} in head["ports"]


def test_replicas_push_their_work_as_often_as_darkroom_serve_ray_makes_them():
    """Ray's 10 s default would hold a burst back for 10 s, and stretch the look-back window to 25 s."""
    from darkroom.scaleout.autoscaling import PUSH_INTERVAL

    assert float(_env()[PUSH_INTERVAL]["value"]) == 2


def test_every_name_in_the_manifest_is_a_setting_darkroom_reads():
    """Lists every unknown name at once: top-level settings, DARKROOM_* variables, per-model keys."""
    missing = [f"setting {key}" for key in _toml() if key not in Settings.model_fields]
    for var in _env():
        if var.startswith("DARKROOM_") and var not in NOT_SETTINGS and var[len("DARKROOM_"):].lower() not in Settings.model_fields:
            missing.append(f"env {var}")
    for model in _toml()["models"]:
        engine_options = DiffusersOptions.model_fields if model.get("engine") == "diffusers" else {}
        missing += [f"model key {key}" for key in model if key not in ModelConfig.model_fields and key not in engine_options]
    assert missing == [], f"names Darkroom does not read: {', '.join(sorted(set(missing)))}"


def test_the_embedded_config_loads_with_darkrooms_own_loader(tmp_path, monkeypatch):
    for var in list(os.environ):
        if var.startswith("DARKROOM_"):
            monkeypatch.delenv(var)
    for var, entry in _env().items():  # what the Secrets would provide, as dummies of the right shape
        if var.startswith("DARKROOM_") and var not in NOT_SETTINGS:
            monkeypatch.setenv(var, entry.get("value", "postgresql+psycopg://darkroom:pw@db:5432/darkroom"
                                      if var == "DARKROOM_DATABASE_URL" else "sk-test-secret"))
    path = tmp_path / _config_path().name
    path.write_text(_toml_text(), encoding="utf-8")
    settings = load_settings(path)
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.storage == "s3" and settings.s3_bucket
    assert [m.name for m in settings.models] == [m["name"] for m in _toml()["models"]]
    for model in settings.models:  # the per-model Ray keys are fields, so they are not engine options
        assert not {"num_gpus", "num_cpus", "resources", "min_replicas", "max_replicas"} & set(model.engine_options)
        if model.engine == "diffusers":  # its options' values, as the engine checks them at start
            DiffusersOptions(**model.engine_options)


def test_each_models_resources_are_offered_by_a_worker_group_that_can_hold_its_replicas():
    workers = _cluster()["workerGroupSpecs"]
    for model in _toml()["models"]:
        wanted = model.get("resources", {})
        if not wanted:
            continue
        fits = [g for g in workers if all(_offered_resources(g).get(k, 0) >= v for k, v in wanted.items())]
        assert fits, f"model {model['name']} wants {wanted}; no worker group's rayStartParams offers it"
        for group in fits:
            (container,) = group["template"]["spec"]["containers"]
            gpus = float(container["resources"]["limits"].get("nvidia.com/gpu", 0))
            assert gpus >= model.get("num_gpus", 0), f"{group['groupName']} has {gpus} GPUs per pod"
            per_pod = min(_offered_resources(group)[k] // v for k, v in wanted.items())
            assert group["maxReplicas"] * per_pod >= model["max_replicas"], (
                f"{group['groupName']} can hold {group['maxReplicas'] * per_pod} replicas of {model['name']}, "
                f"max_replicas is {model['max_replicas']}")


def test_shutdown_timeouts_nest_so_a_draining_replica_finishes_its_longest_job():
    toml = _toml()
    timeout = toml["request_timeout_seconds"]
    graceful = toml["ray_graceful_shutdown_seconds"]
    assert graceful >= timeout, "Ray would kill a replica before its longest request ends"
    assert _serve_config()["http_options"]["request_timeout_s"] > timeout, "the proxy would answer before Darkroom's 504"
    for name, group in _groups():
        grace = group["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace > graceful, f"Kubernetes would SIGKILL the {name} pods mid-drain"
    # After an upgrade's switch, the old cluster's running requests finish before it is deleted.
    assert _one("RayService")["spec"]["rayClusterDeletionDelaySeconds"] > timeout
    assert 1 <= toml["ray_max_ongoing_requests"] <= 5


@pytest.mark.parametrize("field", ["num_gpus", "num_cpus", "min_replicas", "max_replicas", "target_work_per_replica"])
def test_every_model_sets_its_placement_and_scaling_deliberately(field):
    for model in _toml()["models"]:
        assert field in model, f"model {model['name']} leaves {field} to a default"


def test_every_models_replica_bounds_are_in_order():
    for model in _toml()["models"]:
        assert 1 <= model.get("min_replicas", 1) <= model.get("max_replicas", 1), model["name"]
