"""Photo checks and cleaning (kota_common.photos): metadata is gone when read back with Pillow, orientation is
applied, and what is not a reasonable photo is refused without anything stored."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from kota_common.photos import (
    LocalDirectoryStore,
    PhotoRejected,
    Photos,
    PhotoSettings,
    StoredObject,
    prepare,
    thumbnail_url,
)
from kota_common.photos_testing import GPS_IFD, IDENTIFYING, bomb_png, camera_photo, read_back


def test_a_photo_comes_back_without_gps_device_or_any_other_metadata():
    source = camera_photo()
    assert read_back(source).getexif().get_ifd(GPS_IFD)  # the fixture does carry a position
    photo = prepare(source, PhotoSettings())
    image = read_back(photo.data)
    assert image.format == "JPEG" and photo.content_type == "image/jpeg" and photo.suffix == "jpg"
    assert dict(image.getexif()) == {}
    assert image.getexif().get_ifd(GPS_IFD) == {}
    assert not {"exif", "xmp", "comment", "icc_profile"} & set(image.info)
    for needle in IDENTIFYING:
        assert needle not in photo.data and needle not in photo.thumbnail
    assert dict(read_back(photo.thumbnail).getexif()) == {}


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_png_and_webp_keep_their_format_and_lose_their_metadata(fmt):
    photo = prepare(camera_photo(fmt=fmt), PhotoSettings())
    image = read_back(photo.data)
    assert image.format == fmt
    assert dict(image.getexif()) == {} and not {"exif", "xmp"} & set(image.info)
    assert b"PhoneMaker" not in photo.data


def test_the_cameras_orientation_is_applied_to_the_pixels():
    # orientation 6: the camera was turned; a viewer rotates 90 degrees clockwise to show it upright
    photo = prepare(camera_photo(size=(64, 32), orientation=6), PhotoSettings())
    image = read_back(photo.data).convert("RGB")
    assert image.size == (32, 64)
    r, g, b = image.getpixel((24, 8))  # the blue corner moved from top-left to top-right
    assert b > 150 and r < 100


def test_a_thumbnail_is_made_and_a_huge_photo_is_scaled_down():
    s = PhotoSettings(max_side=400, thumbnail_side=100)
    photo = prepare(camera_photo(size=(1000, 500)), s)
    assert (photo.width, photo.height) == (400, 200)
    thumb = read_back(photo.thumbnail)
    assert thumb.format == "JPEG" and thumb.size == (100, 50)


def test_something_that_is_not_an_image_is_refused():
    for data in (b"%PDF-1.7\n...", b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"GIF89a" + b"\x00" * 40):
        with pytest.raises(PhotoRejected, match="not a JPEG, PNG or WebP") as refused:
            prepare(data, PhotoSettings())
        assert refused.value.status == 400


def test_an_image_of_another_type_is_refused():
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "BMP")
    with pytest.raises(PhotoRejected, match="not a JPEG, PNG or WebP"):
        prepare(out.getvalue(), PhotoSettings())


def test_a_file_larger_than_the_limit_is_refused_as_too_large():
    with pytest.raises(PhotoRejected, match="larger than 1 MB") as refused:
        prepare(camera_photo() + b"\x00" * (1024 * 1024), PhotoSettings(max_bytes=1024 * 1024))
    assert refused.value.status == 413


def test_a_decompression_bomb_is_refused_before_it_is_decoded():
    bomb = bomb_png(30_000, 30_000)  # 900 megapixels in a file of a few hundred bytes
    assert len(bomb) < 1000
    with pytest.raises(PhotoRejected, match="too many pixels"):
        prepare(bomb, PhotoSettings())


def test_more_pixels_than_allowed_is_refused_even_below_pillows_own_bomb_limit():
    with pytest.raises(PhotoRejected, match="too many pixels .*5000x5000"):
        prepare(bomb_png(5000, 5000), PhotoSettings(max_pixels=1_000_000))


def test_a_truncated_photo_is_refused_as_damaged():
    data = camera_photo(size=(400, 300))
    with pytest.raises(PhotoRejected, match="damaged or truncated"):
        prepare(data[: len(data) // 2], PhotoSettings())


class RecordingStore:
    def __init__(self):
        self.objects: dict[str, StoredObject] = {}

    def put(self, name, data, content_type):
        self.objects[name] = StoredObject(data, content_type)

    def get(self, name):
        return self.objects.get(name)


def test_a_kept_photo_and_its_thumbnail_are_stored_under_content_addressed_names():
    store = RecordingStore()
    photos = Photos(store, PhotoSettings())
    kept = photos.keep(camera_photo(), "http://portal.example/")
    assert set(store.objects) == {kept.name, kept.name.replace(".jpg", ".thumb.jpg")}
    assert kept.url == f"http://portal.example/media/photos/{kept.name}"
    assert kept.thumbnail_url == thumbnail_url(kept.url)
    assert photos.keep(camera_photo(), "http://portal.example").name == kept.name  # the same photo: one object
    assert photos.open(kept.name).content_type == "image/jpeg"
    assert photos.open("../../etc/passwd") is None


def test_a_refused_file_stores_nothing():
    store = RecordingStore()
    with pytest.raises(PhotoRejected):
        Photos(store).keep(bomb_png(30_000, 30_000))
    assert store.objects == {}


def test_the_local_store_keeps_files_under_their_names_only(tmp_path):
    store = LocalDirectoryStore(tmp_path)
    name = "ab" + "0" * 62 + ".png"
    store.put(name, b"data", "image/png")
    assert store.get(name) == StoredObject(b"data", "image/png")
    assert store.get("cd" + "0" * 62 + ".png") is None
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [name]
    with pytest.raises(ValueError):
        store.put("../escape.png", b"x", "image/png")


def test_the_thumbnail_url_of_an_external_link_is_empty():
    assert thumbnail_url("https://example.org/banjir.jpg") == ""
    digest = "a" * 64
    assert thumbnail_url(f"http://h/media/photos/{digest}.webp") == f"http://h/media/photos/{digest}.thumb.jpg"
