"""Stored images in an S3 bucket, or any S3-compatible server (MinIO, Ceph, R2, moto) via `endpoint_url`.

Objects are `{prefix}{name}` with their Content-Type; the expiry is in the name (see `base.py`), so
the sweep needs only the listing: S3 lists keys in UTF-8 binary order, which for these names is
expiry order, and the sweep stops at the first key still in date. (S3 Express "directory buckets"
do not list in order: use a general-purpose bucket.)

Links are S3 presigned GET URLs (`presign=True`: clients fetch from S3 directly, so the endpoint
must be reachable by them) or Darkroom-served links, whose route then reads the object from S3.
A presigned URL lives at most 7 days (SigV4), and no longer than the credentials that signed it
(temporary credentials from a role expire sooner).

Credentials and region come from boto3's usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
AWS_PROFILE, ~/.aws, an instance or task role). boto3 is the `s3` extra, imported only here.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator
from typing import Any

from ..config import ConfigError
from ..errors import NotFound, ServerError, StoreUnavailable
from .base import MEDIA_TYPES, ImageStore, StoredObject, new_name, parse_name
from .signing import LinkSigner

EXTRA_HINT = "pip install 'darkroom[s3]'"
MAX_PRESIGN_SECONDS = 7 * 86400  # SigV4's limit on X-Amz-Expires
BATCH_SIZE = 1000  # keys per listing page and per delete_objects call (S3's maximum for both)
_MISSING = {"404", "NoSuchKey", "NotFound"}
_UNAVAILABLE = {"NoSuchBucket", "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"}

log = logging.getLogger("darkroom.storage")


class S3ImageStore(ImageStore):
    def __init__(self, bucket: str, signer: LinkSigner, ttl_seconds: int, *, endpoint_url: str | None = None,
                 region: str | None = None, prefix: str = "", presign: bool = True, client: Any = None) -> None:
        super().__init__(signer, ttl_seconds)
        if not bucket:
            raise ConfigError("Invalid setting 's3_bucket': it is required with storage = 's3'.")
        if presign and ttl_seconds > MAX_PRESIGN_SECONDS:
            raise ConfigError(f"Invalid setting 'url_ttl_seconds': S3 presigned URLs live at most {MAX_PRESIGN_SECONDS} "
                              f"seconds (7 days) but it is {ttl_seconds}. Lower it, or set s3_presign = false.")
        self.bucket = bucket
        self.prefix = prefix
        self.presign = presign
        self.endpoint_url = endpoint_url
        self.client = client or make_client(endpoint_url, region)
        self._check_bucket()

    def save(self, data: bytes, extension: str, *, ttl_seconds: int | None = None) -> str:
        name = new_name(extension, self._ttl(ttl_seconds), time.time())
        with self._translate("put", name):
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=data,
                                   ContentType=MEDIA_TYPES[extension])
        return name

    def url(self, base_url: str, name: str, ttl_seconds: int | None = None, *, now: float | None = None) -> str:
        """A presigned GET URL (`presign`), else a Darkroom-served link; either ends with the object at the latest."""
        if not self.presign:
            return self.signed_url(base_url, name, ttl_seconds, now=now)
        now = time.time() if now is None else now
        ttl = self._ttl(ttl_seconds)
        if ttl > MAX_PRESIGN_SECONDS:
            raise ValueError(f"`ttl_seconds` must be at most {MAX_PRESIGN_SECONDS} for a presigned URL but is {ttl}.")
        expiry, _ = self._parse(name)
        expires_in = max(1, min(ttl, math.floor(expiry - now)))  # never past the object (S3 needs 1 s at least)
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self.prefix + name}, ExpiresIn=expires_in)

    def read(self, name: str, *, now: float | None = None) -> bytes:
        self._parse_live(name, now)
        return self._get(name)

    def delete(self, name: str) -> None:
        self._parse(name)
        with self._translate("delete", name):
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + name)

    def sweep(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        removed = 0
        batch: list[str] = []
        for key in self._expired_keys(now):
            batch.append(key)
            if len(batch) == BATCH_SIZE:
                removed += self._delete_batch(batch)
                batch = []
        return removed + (self._delete_batch(batch) if batch else 0)

    def _fetch(self, name: str) -> StoredObject:
        return StoredObject(name, MEDIA_TYPES[parse_name(name)[1]], data=self._get(name))

    def _get(self, name: str) -> bytes:
        with self._translate("get", name):
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)["Body"].read()

    def _expired_keys(self, now: float) -> Iterator[str]:
        """Keys under the prefix whose expiry has passed, oldest first; other keys are left alone."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix, PaginationConfig={"PageSize": BATCH_SIZE})
        with self._translate("list", self.prefix):
            for page in pages:
                for item in page.get("Contents", ()):
                    parsed = parse_name(item["Key"][len(self.prefix):])
                    if parsed is None:
                        continue
                    if parsed[0] >= now:
                        return  # keys sort by expiry: the rest are in date too
                    yield item["Key"]

    def _delete_batch(self, keys: list[str]) -> int:
        with self._translate("delete", f"{len(keys)} objects"):
            response = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True})
        errors = response.get("Errors", [])
        for error in errors[:5]:
            log.warning("could not delete s3://%s/%s: %s %s", self.bucket, error.get("Key"), error.get("Code"),
                        error.get("Message"))
        return len(keys) - len(errors)

    def _check_bucket(self) -> None:
        """Stop at start, with the setting to fix, unless the bucket answers."""
        from botocore.exceptions import (
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
        )

        where = self.endpoint_url or "AWS"
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except NoCredentialsError as exc:
            raise ConfigError("storage = 's3' found no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                              "(or AWS_PROFILE), or run with an instance or task role.") from exc
        except EndpointConnectionError as exc:
            raise ConfigError(f"Invalid setting 's3_endpoint_url': cannot connect to {where} ({exc}).") from exc
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _MISSING or code == "NoSuchBucket":
                raise ConfigError(f"Invalid setting 's3_bucket': the bucket '{self.bucket}' does not exist at {where}. "
                                  "Create it first.") from exc
            if code in ("403", "AccessDenied", "Forbidden"):
                raise ConfigError(f"Invalid setting 's3_bucket': access to the bucket '{self.bucket}' at {where} is "
                                  "denied. The credentials need s3:ListBucket, s3:GetObject, s3:PutObject and "
                                  "s3:DeleteObject on it.") from exc
            raise ConfigError(f"Invalid setting 's3_bucket': the bucket '{self.bucket}' at {where} answered "
                              f"{code or exc}.") from exc
        except Exception as exc:  # botocore's other failures: bad region, bad endpoint URL, timeouts
            raise ConfigError(f"Invalid setting 's3_bucket': cannot reach the bucket '{self.bucket}' at {where} "
                              f"({exc}).") from exc

    @contextlib.contextmanager
    def _translate(self, operation: str, what: str) -> Iterator[None]:
        """A missing object becomes NotFound; S3 unreachable, answering 5xx or without the bucket (a
        server restarted empty) StoreUnavailable (503 `storage_unavailable`, with Retry-After); any
        other S3 failure (access denied: a configuration to fix) a ServerError. Details only in the log."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _MISSING:
                raise NotFound("No such image. It may have been deleted after its link expired.") from None
            log.error("s3 %s of %s in bucket %s failed: %s", operation, what, self.bucket, exc)
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            if status >= 500 or code in _UNAVAILABLE:
                raise StoreUnavailable("The image store is unavailable. Retry shortly.",
                                       code="storage_unavailable") from exc
            raise ServerError("The image store failed. Try again later.") from exc
        except BotoCoreError as exc:
            log.error("s3 %s of %s in bucket %s failed: %s", operation, what, self.bucket, exc)
            raise StoreUnavailable("The image store could not be reached. Retry shortly.",
                                   code="storage_unavailable") from exc


def make_client(endpoint_url: str | None, region: str | None) -> Any:
    """A boto3 S3 client from the usual credential chain; ConfigError naming the extra without boto3."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise ConfigError(f"storage = 's3' needs boto3, which is not installed: {EXTRA_HINT}") from exc
    config = Config(
        signature_version="s3v4",  # presigned URLs with an expiry, in every region
        s3={"addressing_style": "path" if endpoint_url else "auto"},  # S3-compatible servers rarely have bucket DNS
        connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 3},
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region, config=config)
