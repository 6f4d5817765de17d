"""A model file read out of an archive (a wheel, MediaPipe's .task bundle: both are zips), checked by its SHA-256."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from dmsd.errors import DmsdError


def read_member(archive: Path, member: str, sha256: str, out: Path) -> Path:
    """`member` of the zip `archive`, written to `out` if its SHA-256 is the one this converter was checked on."""
    try:
        with zipfile.ZipFile(archive) as opened:
            data = opened.read(member)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise DmsdError(f"{archive}: no {member} in it ({exc})") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise DmsdError(f"{archive}: {member} is not the file this converter was checked on (SHA-256 differs)")
    out.write_bytes(data)
    return out
