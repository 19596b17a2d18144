"""Photos for tests of the photo channels (kota_common.photos): a phone's photo full of metadata, and a
decompression bomb's header. Made with Pillow on the spot: no file of a real person is ever needed."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, TiffImagePlugin

GPS_IFD, EXIF_IFD = 0x8825, 0x8769
MAKE, MODEL, ORIENTATION, SOFTWARE, BODY_SERIAL = 0x010F, 0x0110, 0x0112, 0x0131, 0xA431
# What camera_photo writes into the metadata: none of it may be found in a kept photo's bytes.
IDENTIFYING = (b"PhoneMaker", b"Phone X9", b"SN-123456789", b"Merdeka", b"Exif")


def camera_photo(size=(64, 32), orientation: int | None = None, fmt="JPEG") -> bytes:
    """A photo as a phone writes it: make, model, serial number, GPS position (Monas, Jakarta), XMP and (JPEG) a
    comment. Red, with a blue top-left quarter that shows where "up" went."""
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, size[0] // 2, size[1] // 2))
    exif = Image.Exif()
    exif[MAKE], exif[MODEL], exif[SOFTWARE] = "PhoneMaker", "Phone X9 Pro", "Camera 1.2"
    if orientation:
        exif[ORIENTATION] = orientation
    exif.get_ifd(EXIF_IFD)[BODY_SERIAL] = "SN-123456789"
    r = TiffImagePlugin.IFDRational
    exif.get_ifd(GPS_IFD).update({1: "S", 2: (r(6), r(10), r(31)), 3: "E", 4: (r(106), r(49), r(37))})
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><tiff:Make>PhoneMaker</tiff:Make></rdf:RDF></x:xmpmeta>'
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, "JPEG", exif=exif, comment=b"taken at home, Jl. Merdeka 5", xmp=xmp)
    else:
        image.save(out, fmt, exif=exif, xmp=xmp)
    return out.getvalue()


def bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A PNG file of a few hundred bytes that says it is width x height (900 megapixels by default): a
    decompression bomb's header, its data one row."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * (width + 1))) + \
        chunk(b"IEND", b"")


def read_back(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
