"""Photo keeping (kota_common.photos.prepare: checks, orientation, re-encoding without metadata, thumbnail) on phone-
sized JPEGs, in process: photos/s and ms a photo, next to the bare Pillow work it cannot avoid in the same run (decode
the JPEG and encode it again at the same quality). A decompression bomb's refusal is timed too.

    flock /tmp/kota-cpu.lock .venv/bin/python bench/photos.py [--sizes 4000x3000,1600x1200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

from PIL import Image

from kota_common.photos import PhotoRejected, PhotoSettings, prepare
from kota_common.photos_testing import bomb_png, camera_photo


def phone_photo(width: int, height: int) -> bytes:
    """A JPEG of a phone's size with detail everywhere (noise over gradients: it compresses like a photo, not like a
    flat colour), carrying the metadata camera_photo writes."""
    image = Image.effect_noise((width, height), 40).convert("RGB")
    overlay = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    image = Image.blend(image, overlay, 0.5)
    exif = Image.open(io.BytesIO(camera_photo())).getexif()
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def timed(work, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return times


def bare(data: bytes) -> None:
    image = Image.open(io.BytesIO(data))
    image.load()
    image.save(io.BytesIO(), "JPEG", quality=85)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="4000x3000,1600x1200")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    settings = PhotoSettings()
    print(f"{'photo':>11} {'bytes':>10}  {'prepare ms (median)':>20} {'photos/s':>9}  {'bare decode+encode ms':>22}")
    for size in args.sizes.split(","):
        width, height = (int(x) for x in size.split("x"))
        data = phone_photo(width, height)
        ours = statistics.median(timed(lambda data=data: prepare(data, settings), args.repeat))
        base = statistics.median(timed(lambda data=data: bare(data), args.repeat))
        print(f"{size:>11} {len(data):>10}  {ours * 1000:>20.1f} {1 / ours:>9.1f}  {base * 1000:>22.1f}")
    bomb = bomb_png()

    def refuse() -> None:
        try:
            prepare(bomb, settings)
        except PhotoRejected:
            return
        raise AssertionError("the bomb was kept")
    refused = statistics.median(timed(refuse, args.repeat))
    print(f"a {len(bomb)}-byte PNG of 30000x30000 pixels refused in {refused * 1000:.2f} ms")


if __name__ == "__main__":
    main()
