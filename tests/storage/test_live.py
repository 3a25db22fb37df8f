"""Storage through a live `darkroom serve`: S3 (a moto server process) behind `url` responses, and
`store_all` images that only their owner can list and fetch."""

from __future__ import annotations

import base64
import io
import subprocess
import sys

import boto3
import httpx
import openai
import pytest
from PIL import Image

from tests.conftest import start_server, stop_server
from tests.s3_server import REGION, TEST_CREDENTIALS

SETTINGS_KEY = "sk-storage-settings-key"
PROMPT = "a hero image for a todo app"


def s3_config(bucket: str, endpoint: str, presign: bool) -> str:
    return (f'api_keys = ["{SETTINGS_KEY}"]\nstorage = "s3"\ns3_bucket = "{bucket}"\n'
            f's3_endpoint_url = "{endpoint}"\ns3_region = "{REGION}"\ns3_prefix = "images/"\n'
            f"s3_presign = {'true' if presign else 'false'}\nstore_all = true\n")


@pytest.mark.parametrize("presign", [True, False], ids=["presigned", "darkroom-served"])
def test_url_responses_from_s3(tmp_path, s3_endpoint, aws_env, bucket, presign):
    server = start_server(tmp_path, s3_config(bucket, s3_endpoint, presign), api_key=SETTINGS_KEY,
                          env=TEST_CREDENTIALS)
    try:
        with openai.OpenAI(base_url=server.v1, api_key=SETTINGS_KEY, max_retries=0, timeout=60) as client:
            result = client.images.generate(model="dall-e-2", prompt=PROMPT, size="256x256", n=2)
        for item in result.data:
            assert item.url.startswith(s3_endpoint if presign else server.base_url)
            fetched = httpx.get(item.url, timeout=10)
            assert fetched.status_code == 200
            assert Image.open(io.BytesIO(fetched.content)).size == (256, 256)
        objects = boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION).list_objects_v2(
            Bucket=bucket, Prefix="images/")
        assert objects["KeyCount"] == 2  # kept once (store_all), the link points at the same object
    finally:
        stop_server(server)


def test_kept_images_belong_to_their_owner(tmp_path, s3_endpoint, aws_env, bucket):
    server = start_server(tmp_path, s3_config(bucket, s3_endpoint, True), api_key=SETTINGS_KEY,
                          env=TEST_CREDENTIALS)
    try:
        config = str(tmp_path / "darkroom.toml")
        alice, bob = (subprocess.run([sys.executable, "-m", "darkroom", "keys", "create", "--name", name,
                                      "--config", config], capture_output=True, text=True, check=True,
                                     env={**TEST_CREDENTIALS, "PATH": ""}).stdout.strip()
                      for name in ("alice", "bob"))
        with openai.OpenAI(base_url=server.v1, api_key=alice, max_retries=0, timeout=60) as client:
            made = client.images.generate(model="gpt-image-1", prompt=PROMPT, size="1024x1024", quality="low",
                                          output_format="webp", extra_body={"seed": 42})
        sent = base64.b64decode(made.data[0].b64_json)

        def get(key: str, path: str) -> httpx.Response:
            return httpx.get(f"{server.v1}/images/stored{path}", headers={"Authorization": f"Bearer {key}"},
                             timeout=10)

        listing = get(alice, "").json()["data"]
        assert len(listing) == 1
        kept = listing[0]
        assert (kept["model"], kept["prompt"], kept["size"], kept["output_format"], kept["seed"]) == (
            "gpt-image-1", PROMPT, "1024x1024", "webp", 42)
        assert get(alice, f"/{kept['id']}/content").content == sent
        assert httpx.get(get(alice, f"/{kept['id']}").json()["url"], timeout=10).content == sent
        # Bob sees nothing of Alice's: not in his list, and her id is a 404 for him.
        assert get(bob, "").json()["data"] == []
        for path in (f"/{kept['id']}", f"/{kept['id']}/content"):
            refused = get(bob, path)
            assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    finally:
        stop_server(server)
