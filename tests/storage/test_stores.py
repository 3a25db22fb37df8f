"""Both backends through the same tests: what a caller of `ImageStore` and a holder of a link see."""

from __future__ import annotations

import os
import re
import time

import pytest

from darkroom.errors import NotFound, PermissionDenied
from darkroom.storage.base import MEDIA_TYPES
from tests.storage.links import BASE, fetch, link_parts, query_param

STORES = ["local", "s3"]
LINKS = ["local", "s3", "s3-served"]  # s3: presigned URLs; s3-served: Darkroom-served links read from S3
DAY = 86400


@pytest.mark.parametrize("kind", STORES)
def test_save_read_delete(make_store, kind):
    store = make_store(kind)
    name = store.save(b"png-bytes", "png")
    assert store.read(name) == b"png-bytes"
    store.delete(name)
    with pytest.raises(NotFound):
        store.read(name)
    store.delete(name)  # already gone: not an error


@pytest.mark.parametrize("kind", STORES)
def test_names_are_unguessable_and_carry_their_expiry(make_store, kind):
    store = make_store(kind, ttl=60)
    before = time.time()
    names = [store.save(b"x", "webp") for _ in range(20)]
    assert len(set(names)) == 20
    for name in names:
        match = re.fullmatch(r"(\d{10})-([0-9a-f]{32})\.webp", name)
        assert match, name
        assert before + 60 <= int(match[1]) <= time.time() + 61
    assert len({name.split("-")[1][:8] for name in names}) == 20  # random, not a counter


@pytest.mark.parametrize("kind", LINKS)
@pytest.mark.parametrize("extension", sorted(MEDIA_TYPES))
def test_url_serves_the_image_with_its_media_type(make_store, s3_endpoint, kind, extension):
    store = make_store(kind)
    name = store.save(b"image " + extension.encode(), extension)
    url = store.url(BASE, name)
    assert url.startswith(s3_endpoint if kind == "s3" else f"{BASE}/v1/images/files/{name}?")
    got = fetch(store, url)
    assert (got.status, got.body, got.media_type) == (200, b"image " + extension.encode(), MEDIA_TYPES[extension])


@pytest.mark.parametrize("kind", LINKS)
def test_link_lifetime_is_the_ttl_but_never_past_the_object(make_store, kind):
    store = make_store(kind, ttl=600)
    kept = store.save(b"kept", "png", ttl_seconds=30 * DAY)
    short = store.save(b"short", "png", ttl_seconds=60)
    now = time.time()  # after the saves (a slow save must not stretch what is left of `short`)
    assert 600 <= lifetime(store.url(BASE, kept, now=now), now) < 601
    assert 3600 <= lifetime(store.url(BASE, kept, 3600, now=now), now) < 3601
    left = int(short.split("-")[0]) - now  # the object's own expiry leads its name
    assert 58 < left <= 61
    assert left - 1 < lifetime(store.url(BASE, short, 3600, now=now), now) <= left  # never past the object


def lifetime(url: str, now: float) -> float:
    """Seconds from `now` until the link expires."""
    if "X-Amz-Expires" in url:
        return float(query_param(url, "X-Amz-Expires"))
    return int(query_param(url, "expires")) - now


@pytest.mark.parametrize("kind", STORES)
def test_tampered_links_are_refused(make_store, kind):
    store = make_store(kind)
    name, expires, signature = link_parts(store.signed_url(BASE, store.save(b"x", "png")))
    other = store.save(b"y", "png")
    for args in [(other, expires, signature), (name, str(int(expires) + 1), signature), (name, expires, None),
                 (name, None, signature), (name, expires, flip_last(signature))]:
        with pytest.raises(PermissionDenied):
            store.open(*args)
    for bad_name in ["../../etc/passwd", name.replace(".png", ".exe"), "images/" + name, "0" * 32 + ".png"]:
        with pytest.raises(PermissionDenied):  # the signature is checked first: nothing unsigned reaches storage
            store.open(bad_name, expires, signature)


def flip_last(text: str) -> str:
    return text[:-1] + ("B" if text[-1] == "A" else "A")


@pytest.mark.parametrize("kind", LINKS)
def test_expired_link_is_refused(make_store, kind):
    store = make_store(kind, ttl=60)
    name = store.save(b"x", "png")
    got = fetch(store, store.signed_url(BASE, name, now=time.time() - 120))
    assert got.status == 403 and "expired" in got.message


@pytest.mark.parametrize("kind", LINKS)
def test_sweep_deletes_each_object_at_its_own_expiry(make_store, kind):
    store = make_store(kind, ttl=60)
    short = [store.save(b"short", "png") for _ in range(3)]
    kept = [store.save(b"kept", "jpeg", ttl_seconds=30 * DAY) for _ in range(2)]
    urls = [store.url(BASE, name) for name in short + kept]
    assert store.sweep() == 0
    assert store.sweep(now=time.time() + 61) == 3
    assert [fetch(store, url).status for url in urls] == [404, 404, 404, 200, 200]
    for name in short:
        with pytest.raises(NotFound):
            store.read(name)
    assert [store.read(name) for name in kept] == [b"kept", b"kept"]
    assert store.sweep(now=time.time() + 61) == 0
    assert store.sweep(now=time.time() + 31 * DAY) == 2
    assert [fetch(store, url).status for url in urls[3:]] == [404, 404]


@pytest.mark.parametrize("kind", STORES)
def test_read_after_expiry_is_not_found_before_the_sweep(make_store, kind):
    store = make_store(kind, ttl=60)
    name = store.save(b"x", "png")
    assert store.read(name, now=time.time() + 59) == b"x"
    with pytest.raises(NotFound, match="retention"):
        store.read(name, now=time.time() + 61)


@pytest.mark.parametrize("kind", LINKS)
def test_big_image(make_store, kind):
    store = make_store(kind)
    data = os.urandom(6 * 1024 * 1024)
    name = store.save(data, "png")
    assert store.read(name) == data
    got = fetch(store, store.url(BASE, name))
    assert got.status == 200 and got.body == data


@pytest.mark.parametrize("kind", STORES)
def test_bad_arguments_are_refused(make_store, kind):
    store = make_store(kind)
    with pytest.raises(ValueError, match="`extension` must be one of"):
        store.save(b"x", "gif")
    with pytest.raises(ValueError, match="`ttl_seconds` must be between"):
        store.save(b"x", "png", ttl_seconds=0)
    with pytest.raises(NotFound):
        store.read("../secret.png")
