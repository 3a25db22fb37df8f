"""What only the S3 backend does: objects, prefixes, batched sweeps, and errors at start that name the setting."""

from __future__ import annotations

import sys
import time

import boto3
import pytest

from darkroom.config import ConfigError
from darkroom.errors import ServerError, StoreUnavailable
from darkroom.storage import build_store
from darkroom.storage.local import LocalImageStore
from darkroom.storage.s3 import S3ImageStore
from tests.s3_server import REGION, free_port
from tests.storage.conftest import SIGNER


def client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION)


def s3_store(bucket: str, endpoint: str, **kwargs) -> S3ImageStore:
    return S3ImageStore(bucket, SIGNER, kwargs.pop("ttl", 60), endpoint_url=endpoint, region=REGION, **kwargs)


def test_objects_live_under_the_prefix_with_their_content_type(bucket, s3_endpoint):
    store = s3_store(bucket, s3_endpoint, prefix="darkroom/images/")
    name = store.save(b"jpeg-bytes", "jpeg")
    head = client(s3_endpoint).head_object(Bucket=bucket, Key=f"darkroom/images/{name}")
    assert head["ContentType"] == "image/jpeg" and head["ContentLength"] == 10


def test_sweep_pages_and_batches_and_leaves_other_keys_alone(bucket, s3_endpoint, monkeypatch):
    monkeypatch.setattr("darkroom.storage.s3.BATCH_SIZE", 3)
    store = s3_store(bucket, s3_endpoint, prefix="p/")
    expired = [store.save(b"x", "png") for _ in range(8)]
    fresh = [store.save(b"x", "png", ttl_seconds=3600) for _ in range(2)]
    raw = client(s3_endpoint)
    foreign = ["other/0000000001-" + "0" * 32 + ".png", "p/0000000001-notours.png", "p/readme.txt"]
    for key in foreign:
        raw.put_object(Bucket=bucket, Key=key, Body=b"not darkroom's")
    assert store.sweep(now=time.time() + 61) == 8
    keys = sorted(item["Key"] for item in raw.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == sorted(foreign + [f"p/{name}" for name in fresh])
    assert not set(expired) & {key.removeprefix("p/") for key in keys}


def test_a_missing_bucket_is_a_503_storage_unavailable(bucket, s3_endpoint):
    """A bucket gone (an S3-compatible server restarted empty) is an outage to wait out, not a bug."""
    store = s3_store(bucket, s3_endpoint)
    name = store.save(b"x", "png")
    raw = client(s3_endpoint)
    raw.delete_object(Bucket=bucket, Key=name)
    raw.delete_bucket(Bucket=bucket)
    with pytest.raises(StoreUnavailable, match="image store is unavailable") as caught:
        store.save(b"x", "png")
    assert (caught.value.status, caught.value.code) == (503, "storage_unavailable")
    assert "Retry-After" in caught.value.headers
    assert bucket not in caught.value.message  # no internals in what a client sees
    with pytest.raises(StoreUnavailable):
        store.read(name)


def test_other_storage_failures_become_server_errors(bucket, s3_endpoint):
    from botocore.exceptions import ClientError

    store = s3_store(bucket, s3_endpoint)
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"},
                          "ResponseMetadata": {"HTTPStatusCode": 403}}, "PutObject")
    with pytest.raises(ServerError, match="image store failed") as caught, store._translate("put", "x"):
        raise denied
    assert caught.value.status == 500


def test_an_unreachable_s3_is_a_503(bucket, s3_endpoint):
    from darkroom.storage.s3 import make_client

    store = s3_store(bucket, s3_endpoint)
    store.client = make_client(f"http://127.0.0.1:{free_port()}", REGION)  # the server went away
    with pytest.raises(StoreUnavailable, match="could not be reached") as caught:
        store.save(b"x", "png")
    assert (caught.value.status, caught.value.code) == (503, "storage_unavailable")


def test_missing_bucket_names_the_setting(s3_endpoint, aws_env):
    with pytest.raises(ConfigError, match="'s3_bucket'.*'no-such-bucket' does not exist"):
        s3_store("no-such-bucket", s3_endpoint)
    with pytest.raises(ConfigError, match="'s3_bucket': it is required"):
        s3_store("", s3_endpoint)


def test_unreachable_endpoint_names_the_setting(aws_env):
    with pytest.raises(ConfigError, match="'s3_endpoint_url': cannot connect"):
        s3_store("b", f"http://127.0.0.1:{free_port()}")


def test_missing_credentials_say_where_to_set_them(s3_endpoint, aws_env, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ConfigError, match="AWS_ACCESS_KEY_ID"):
        s3_store("b", s3_endpoint)


def test_presigned_links_are_limited_to_seven_days(bucket, s3_endpoint):
    with pytest.raises(ConfigError, match="'url_ttl_seconds'.*s3_presign = false"):
        s3_store(bucket, s3_endpoint, ttl=8 * 86400)
    store = s3_store(bucket, s3_endpoint, ttl=8 * 86400, presign=False)
    assert "/v1/images/files/" in store.url("http://h", store.save(b"x", "png"))
    presigning = s3_store(bucket, s3_endpoint)
    with pytest.raises(ValueError, match="at most 604800"):
        presigning.url("http://h", presigning.save(b"x", "png", ttl_seconds=30 * 86400), 8 * 86400)


def test_without_boto3_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ConfigError, match=r"pip install 'darkroom\[s3\]'"):
        S3ImageStore("b", SIGNER, 60)


def test_build_store(tmp_path, bucket, s3_endpoint):
    common = {"root": tmp_path / "images", "signer": SIGNER, "ttl_seconds": 60}
    assert isinstance(build_store("local", **common), LocalImageStore)
    s3 = build_store("s3", **common, s3_bucket=bucket, s3_endpoint_url=s3_endpoint, s3_region=REGION,
                     s3_prefix="x/", s3_presign=False)
    assert isinstance(s3, S3ImageStore) and (s3.prefix, s3.presign) == ("x/", False)
    with pytest.raises(ConfigError, match="'storage': must be 'local' or 's3'"):
        build_store("ftp", **common)
