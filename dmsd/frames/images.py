"""Reading still images safely: every way a file can be bad becomes one DmsdError line naming the file."""

from __future__ import annotations

import os
import struct
import sys
import tempfile
import threading
from pathlib import Path

import cv2
import numpy as np

from dmsd.errors import DmsdError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm")
MIN_SIDE = 24  # the Haar cascade's window: nothing smaller can hold a face
MAX_PIXELS = 50_000_000  # a 50-megapixel frame already takes 150 MB decoded; refuse before decoding
# What libjpeg and libpng write to stderr on a damaged file that still decodes: the picture is partly garbage.
DECODER_COMPLAINTS = (
    "Corrupt JPEG data",
    "Premature end of JPEG",
    "Invalid SOS",
    "libpng warning",
    "libpng error",
    "Warning:",
    "Bogus",
)
_stderr_lock = threading.Lock()


def list_images(directory: Path) -> list[Path]:
    """The image files in a directory, sorted by name; an error if there are none."""
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DmsdError(f"{directory}: no images in this directory (looked for {', '.join(IMAGE_SUFFIXES)})")
    return files


def read_image(path: Path) -> np.ndarray:
    """Decode an image file to BGR, or raise DmsdError saying what is wrong with it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DmsdError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DmsdError(f"{path}: is a directory, not an image") from None
    except OSError as exc:
        raise DmsdError(f"{path}: cannot read ({exc.strerror})") from None
    if not data:
        raise DmsdError(f"{path}: empty file")
    size = header_size(data)
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        raise DmsdError(
            f"{path}: {size[0]}x{size[1]} is over the {MAX_PIXELS // 1_000_000}-megapixel limit; scale it down first"
        )
    # Checked before decoding, because libjpeg and libpng print their own complaints to stderr.
    if data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-64:]:
        raise DmsdError(f"{path}: truncated JPEG (no end-of-image marker)")
    if data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" not in data[-32:]:
        raise DmsdError(f"{path}: truncated PNG (no IEND chunk)")
    image, complaint = _decode(data)
    if complaint:
        raise DmsdError(f"{path}: corrupt image data ({complaint})")
    if image is None:
        raise DmsdError(f"{path}: not a readable image (unsupported format or corrupt data)")
    height, width = image.shape[:2]
    if width < MIN_SIDE or height < MIN_SIDE:
        raise DmsdError(f"{path}: image is {width}x{height}, too small to hold a face (at least {MIN_SIDE}x{MIN_SIDE})")
    if height * width > MAX_PIXELS:
        raise DmsdError(f"{path}: {width}x{height} is over the {MAX_PIXELS // 1_000_000}-megapixel limit")
    return image


def _decode(data: bytes) -> tuple[np.ndarray | None, str | None]:
    """cv2.imdecode, with what the codec libraries print to stderr caught: their first complaint is returned (to
    become our one line); anything else written to stderr meanwhile (another thread's log line) is passed on."""
    with _stderr_lock, tempfile.TemporaryFile() as caught:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(caught.fileno(), 2)
        try:
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        caught.seek(0)
        lines = caught.read().decode(errors="replace").splitlines()
    complaints = [line.strip() for line in lines if line.strip().startswith(DECODER_COMPLAINTS)]
    others = [line for line in lines if line.strip() and not line.strip().startswith(DECODER_COMPLAINTS)]
    if others:
        sys.stderr.write("\n".join(others) + "\n")
    return image, complaints[0] if complaints else None


def header_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG or JPEG header without decoding; None for other formats."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None
