"""Worst-case cost of accepting an image upload, and what a decompression bomb costs now.

The images are made first, each case is then measured in a fresh interpreter that only reads
the file (peak RSS is per process), through the same path as an attachment upload:
`inspect_image` on the header, then `downscale_image` (or, for an image kept as it is, the
full-decode check) with the default model limits (8000 px a side, 3.75 MB). Every accepted
case is under the 20 MB upload cap (CHAT_MAX_UPLOAD_BYTES).

    python bench/uploads.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

MAKE = r"""
import os, sys
from PIL import Image
kind, width, height, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if kind == "png-flat":  # compresses to a few hundred KB: the decompression-bomb shape
    Image.new("L", (width, height), 200).save(path, format="PNG")
else:  # photo-like: smooth noise, coarse enough that the file stays under the 20 MB upload cap
    scale = 64 if kind == "png-photo" else 8
    w, h = width // scale, height // scale
    image = Image.frombytes("RGB", (w, h), os.urandom(w * h * 3)).resize((width, height), Image.Resampling.BICUBIC)
    options = {"format": "PNG"} if kind == "png-photo" else {"format": "JPEG", "quality": 90}
    image.save(path, **options)
"""

MEASURE = r"""
import resource, sys, time
import django
django.setup()
from backend import files

data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
try:
    info = files.inspect_image(data)
    if max(info.width, info.height) > 8000 or len(data) > 3_750_000:
        files.downscale_image(data, max_pixels_side=8000, max_bytes=3_750_000)
    else:
        files.inspect_image(data, decode=True)
    outcome = "accepted"
except files.InvalidImage as exc:
    outcome = f"refused ({exc})"
elapsed = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"{len(data) / 1e6:.1f} MB | {outcome} | {elapsed:.2f} s | {max(0, peak - before) / 1024:.0f} MB |")
"""

CASES = [
    ("png-flat", 9400, 9400),
    ("png-flat", 5000, 5000),
    ("png-photo", 5000, 5000),
    ("png-photo", 8100, 3080),
    ("jpeg-photo", 8900, 8900),
    ("jpeg-photo", 5000, 5000),
]


def main() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "aiassistant.settings", "DEBUG": "1", "PYTHONPATH": str(REPO)}
    print("| image | bytes | outcome | time | extra peak memory |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for kind, width, height in CASES:
            path = str(Path(folder) / f"{kind}-{width}x{height}")
            subprocess.run([sys.executable, "-c", MAKE, kind, str(width), str(height), path], check=True)
            result = subprocess.run(
                [sys.executable, "-c", MEASURE, path], env=env, capture_output=True, text=True, check=False
            )
            line = result.stdout.strip() or result.stderr.strip().splitlines()[-1]
            print(f"| {kind} {width}x{height} | {line}")


if __name__ == "__main__":
    main()
