"""Stores of both kinds for the storage tests, the S3 one against a real moto server process."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable

import pytest

from darkroom.storage.base import ImageStore
from darkroom.storage.local import LocalImageStore
from darkroom.storage.signing import LinkSigner
from tests.s3_server import REGION, TEST_CREDENTIALS, moto_server

SIGNER = LinkSigner(b"k" * 32)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory):
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        yield endpoint


@pytest.fixture()
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """Test credentials for this test only, and none of the machine's own AWS settings."""
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for key, value in TEST_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture()
def bucket(s3_endpoint: str, aws_env) -> str:
    """A new, empty bucket on the moto server."""
    import boto3

    name = f"darkroom-{secrets.token_hex(6)}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION).create_bucket(Bucket=name)
    return name


@pytest.fixture()
def make_store(request: pytest.FixtureRequest, tmp_path) -> Callable[..., ImageStore]:
    """make_store(kind, ttl=60): "local", "s3" (presigned links) or "s3-served" (Darkroom-served links)."""

    def make(kind: str, ttl: int = 60) -> ImageStore:
        if kind == "local":
            return LocalImageStore(tmp_path / "images", SIGNER, ttl)
        from darkroom.storage.s3 import S3ImageStore

        return S3ImageStore(request.getfixturevalue("bucket"), SIGNER, ttl, region=REGION, prefix="images/",
                            endpoint_url=request.getfixturevalue("s3_endpoint"), presign=kind == "s3")

    return make
