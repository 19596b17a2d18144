"""Citizens' photos, kept once for every channel (the portal, Open311's `media`, mail attachments).

`Photos.keep(data)` checks an upload (size, JPEG/PNG/WebP only, pixel count before decoding: no decompression
bomb), applies its EXIF orientation, re-encodes it without any metadata (GPS position, device, date, XMP, comments),
makes a thumbnail and stores both in object storage under content-addressed names; it answers their public URLs.
A refused file raises `PhotoRejected` and nothing is stored. `Photos.open(name)` reads one back for the gateway.

Storage is one small interface, `ObjectStore` (put, get): `LocalDirectoryStore` is the embedded default (a
directory under var/, shared by the processes of one machine), `S3Store` any S3-compatible storage (MinIO in
compose) through boto3. Names are the SHA-256 of the stored bytes: the same photo sent twice is stored once, and a
name never changes content, so the gateway serves them as immutable.

A photo's bytes are never logged; neither is anything read from its metadata.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from PIL import Image, ImageOps, UnidentifiedImageError
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

# What the checks accept, by Pillow's format name: (content type, file suffix).
FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
CONTENT_TYPES = {suffix: content_type for content_type, suffix in FORMATS.values()}
# A stored object's name: the SHA-256 of the photo, ".thumb" for its thumbnail, and the format's suffix.
NAME = re.compile(r"^(?P<digest>[0-9a-f]{64})(?P<thumb>\.thumb)?\.(?P<suffix>jpg|png|webp)$")
MEDIA_PATH = "/media/photos/"  # where the gateway serves them (entrypoints/media.py)


class PhotoSettings(BaseSettings):
    """Where photos are kept and what is accepted (prefix KOTA_PHOTOS_): the same for every process that takes or
    serves photos (the gateway, notifications), so that they share one store."""

    model_config = SettingsConfigDict(env_prefix="KOTA_PHOTOS_", extra="ignore")

    store: Literal["local", "s3"] = Field("local", description="local: a directory (local_dir); s3: S3-compatible storage")
    local_dir: str = Field("var/photos", description="the local store's directory (relative: to the working directory)")
    s3_endpoint: str = Field("", description="S3 endpoint URL, e.g. http://minio:9000 (empty: AWS's own)")
    s3_bucket: str = Field("kota-photos", description="bucket of the photos; created if missing")
    s3_region: str = Field("us-east-1")
    s3_access_key: str = Field("", description="S3 access key (empty: boto3's own credential chain)")
    s3_secret_key: str = Field("", description="S3 secret key")
    public_url: str = Field(
        "", description="the gateway's public address, e.g. https://lapor.jakarta.go.id: photos' URLs start with it "
        "(empty: the gateway uses the request's own address; notifications its portal_url)")
    max_bytes: int = Field(8 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024, description="largest photo accepted")
    max_pixels: int = Field(40_000_000, ge=1, description="most pixels a photo may decode to (checked before decoding)")
    max_side: int = Field(4096, ge=320, description="a larger photo is scaled down to this many pixels on its long side")
    thumbnail_side: int = Field(320, ge=32, le=1024, description="the thumbnail's long side in pixels")


class PhotoRejected(Exception):
    """An upload that is not kept. `status`: the HTTP status an API answers with (413 too large, 400 otherwise)."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason, self.status = reason, status


@dataclass(frozen=True)
class Prepared:
    """A checked photo, re-encoded without metadata, and its thumbnail (JPEG)."""

    data: bytes
    content_type: str
    suffix: str
    thumbnail: bytes
    width: int
    height: int

    @property
    def name(self) -> str:
        return f"{hashlib.sha256(self.data).hexdigest()}.{self.suffix}"

    @property
    def thumbnail_name(self) -> str:
        return thumbnail_name(self.name)


def thumbnail_name(name: str) -> str:
    """The thumbnail's name of a stored photo's name (always a JPEG)."""
    m = NAME.match(name)
    if m is None or m["thumb"]:
        raise ValueError(f"not a photo's name: {name!r}")
    return f"{m['digest']}.thumb.jpg"


def thumbnail_url(url: str) -> str:
    """The thumbnail's URL of a photo's URL, "" for a URL that is not a kept photo (an old external link)."""
    head, _, name = url.rpartition("/")
    if not (head + "/").endswith(MEDIA_PATH) or NAME.match(name) is None or ".thumb." in name:
        return ""
    return f"{head}/{thumbnail_name(name)}"


def prepare(data: bytes, s: PhotoSettings) -> Prepared:
    """Check an upload and re-encode it without metadata. PhotoRejected for what is not kept: too large, not a
    JPEG/PNG/WebP, damaged, or more pixels than `max_pixels` (a decompression bomb: a small file that would decode
    to gigabytes). The pixel count is read from the header, before anything is decoded; Pillow's own guard
    (Image.MAX_IMAGE_PIXELS, DecompressionBombError) stays on behind it."""
    if not data:
        raise PhotoRejected("the file is empty")
    if len(data) > s.max_bytes:
        raise PhotoRejected(f"the file is larger than {s.max_bytes // (1024 * 1024)} MB", 413)
    try:
        image = Image.open(io.BytesIO(data), formats=list(FORMATS))
    except Image.DecompressionBombError:
        raise PhotoRejected("the image has too many pixels (a decompression bomb?)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise PhotoRejected("not a JPEG, PNG or WebP image") from None
    with image:
        width, height = image.size
        if width < 1 or height < 1:
            raise PhotoRejected("the image has no pixels")
        if width * height > s.max_pixels:
            raise PhotoRejected(f"the image has too many pixels ({width}x{height}; at most {s.max_pixels:,})")
        fmt = image.format or ""
        try:
            image.load()  # the first frame of an animation: a still is what staff look at
            upright = ImageOps.exif_transpose(image)  # the camera's orientation applied: the EXIF tag goes with the rest
        except Image.DecompressionBombError:
            raise PhotoRejected("the image has too many pixels (a decompression bomb?)") from None
        except Exception:  # a decoder's or an EXIF parser's error, whichever it raises: the file is the client's
            raise PhotoRejected("the image is damaged or truncated") from None
    content_type, suffix = FORMATS[fmt]
    clean = _pixels_only(upright, fmt)
    if max(clean.size) > s.max_side:
        clean.thumbnail((s.max_side, s.max_side), Image.Resampling.LANCZOS)
    thumb = _flatten(clean)
    thumb.thumbnail((s.thumbnail_side, s.thumbnail_side), Image.Resampling.LANCZOS)
    return Prepared(_encode(clean, fmt), content_type, suffix, _encode(thumb, "JPEG", quality=80), *clean.size)


def _pixels_only(image: Image.Image, fmt: str) -> Image.Image:
    """The pixels in a mode the format stores, and nothing else: no EXIF, XMP, ICC profile, comment or text chunk
    (Pillow writes some of them from `info` when saving)."""
    if fmt == "JPEG":
        mode = "L" if image.mode in ("L", "1") else "RGB"
    else:
        has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
        mode = ("LA" if has_alpha else "L") if image.mode in ("L", "LA", "1") else ("RGBA" if has_alpha else "RGB")
    clean = Image.frombytes(mode, image.size, image.convert(mode).tobytes())
    clean.info = {}
    return clean


def _flatten(image: Image.Image) -> Image.Image:
    """An RGB copy (transparency on white) for the JPEG thumbnail."""
    if image.mode in ("RGBA", "LA"):
        background = Image.new("RGB", image.size, "white")
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    return image.convert("RGB")


def _encode(image: Image.Image, fmt: str, quality: int = 85) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, "JPEG", quality=quality)
    elif fmt == "WEBP":
        image.save(out, "WEBP", quality=quality)
    else:
        image.save(out, "PNG")
    return out.getvalue()


# -- storage -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredObject:
    data: bytes
    content_type: str


class ObjectStore(Protocol):
    def put(self, name: str, data: bytes, content_type: str) -> None: ...

    def get(self, name: str) -> StoredObject | None: ...


class LocalDirectoryStore:
    """Objects as files in one directory: the embedded default (./scripts/run: var/photos). A file is written
    under a temporary name and renamed, so that a reader never sees half of one."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def put(self, name: str, data: bytes, content_type: str) -> None:
        path = self._path(name)
        if path.exists():
            return  # content-addressed: the same name holds the same bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, name: str) -> StoredObject | None:
        try:
            data = self._path(name).read_bytes()
        except FileNotFoundError:
            return None
        return StoredObject(data, CONTENT_TYPES[name.rpartition(".")[2]])

    def _path(self, name: str) -> Path:
        if NAME.match(name) is None:
            raise ValueError(f"not a photo's name: {name!r}")
        return self.root / name[:2] / name


class S3Store:
    """Objects in a bucket of S3-compatible storage (MinIO, SeaweedFS, AWS S3) through boto3, path-style addressing
    (what MinIO expects). The bucket is created on first use if it does not exist."""

    def __init__(self, bucket: str, *, endpoint: str = "", region: str = "us-east-1", access_key: str = "",
                 secret_key: str = "", prefix: str = "photos/"):
        import boto3  # type: ignore[import-untyped]  # only where photos are kept in S3
        from botocore.config import Config  # type: ignore[import-untyped]

        credentials = {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key} if access_key else {}
        self.client = boto3.client(
            "s3", endpoint_url=endpoint or None, region_name=region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"},
                          connect_timeout=5, read_timeout=30),
            **credentials)
        self.bucket, self.prefix = bucket, prefix
        self._bucket_ready = False
        self._lock = threading.Lock()

    def put(self, name: str, data: bytes, content_type: str) -> None:
        self._ensure_bucket()
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=data, ContentType=content_type,
                               CacheControl="public, max-age=31536000, immutable")

    def get(self, name: str) -> StoredObject | None:
        from botocore.exceptions import ClientError  # type: ignore[import-untyped]

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NoSuchBucket"):
                return None
            raise
        with answer["Body"] as body:
            return StoredObject(body.read(), answer.get("ContentType") or CONTENT_TYPES[name.rpartition(".")[2]])

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        from botocore.exceptions import ClientError

        with self._lock:
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError:
                try:
                    self.client.create_bucket(Bucket=self.bucket)
                except ClientError as exc:  # another process made it meanwhile
                    if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
            self._bucket_ready = True


# -- the interface the channels use -------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeptPhoto:
    name: str
    url: str
    thumbnail_url: str
    content_type: str
    width: int
    height: int


class Photos:
    """Keep a photo (checked, cleaned, stored with its thumbnail) and open one by name."""

    def __init__(self, store: ObjectStore, settings: PhotoSettings | None = None):
        self.store = store
        self.settings = settings or PhotoSettings()

    def keep(self, data: bytes, public_url: str = "") -> KeptPhoto:
        """PhotoRejected for a file that is not kept (nothing is stored then). `public_url`: the base of the
        answered URLs when the settings give none."""
        photo = prepare(data, self.settings)
        # the thumbnail first: a photo's URL that is answered always has its thumbnail beside it
        self.store.put(photo.thumbnail_name, photo.thumbnail, "image/jpeg")
        self.store.put(photo.name, photo.data, photo.content_type)
        base = (self.settings.public_url or public_url).rstrip("/") + MEDIA_PATH
        log.debug("photo kept: %s (%dx%d, %d bytes)", photo.name, photo.width, photo.height, len(photo.data))
        return KeptPhoto(photo.name, base + photo.name, base + photo.thumbnail_name, photo.content_type,
                         photo.width, photo.height)

    def open(self, name: str) -> StoredObject | None:
        """A stored photo or thumbnail; None for an unknown or malformed name."""
        if NAME.match(name) is None:
            return None
        return self.store.get(name)


def store_from_settings(s: PhotoSettings) -> ObjectStore:
    if s.store == "s3":
        return S3Store(s.s3_bucket, endpoint=s.s3_endpoint, region=s.s3_region, access_key=s.s3_access_key,
                       secret_key=s.s3_secret_key)
    return LocalDirectoryStore(s.local_dir)


def photos_from_settings(s: PhotoSettings | None = None) -> Photos:
    s = s or PhotoSettings()
    return Photos(store_from_settings(s), s)
