"""Certificates for a TLS broker, made by openssl: a CA, the broker's certificate for 127.0.0.1 signed by it, one
for another host signed by it too, and a second CA that signed nothing here (what an untrusted broker looks like to
a client)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def make_certificates(folder: Path) -> None:
    """In `folder`: ca.crt (and ca.key); server.crt and server.key, for 127.0.0.1 and localhost, signed by ca.crt;
    elsewhere.crt and elsewhere.key, for elsewhere.example only, signed by ca.crt; other.crt, a CA that signed
    neither. Valid for a day."""
    if shutil.which("openssl") is None:
        raise RuntimeError("openssl is not installed: it makes the test certificates (apt-get install openssl)")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args, "-days", "1"], check=True, capture_output=True)

    def key(name: str) -> list[str]:
        return ["-newkey", "rsa:2048", "-nodes", "-keyout", f"{folder}/{name}.key"]

    for name, subject in (("ca", "/CN=dmsd-test-ca"), ("other", "/CN=someone-else")):
        openssl("req", "-x509", *key(name), "-out", f"{folder}/{name}.crt", "-subj", subject)
    signed_by_ca = ["-CA", f"{folder}/ca.crt", "-CAkey", f"{folder}/ca.key", "-CAcreateserial"]
    for name, host, names in (
        ("server", "127.0.0.1", "IP:127.0.0.1,DNS:localhost"),
        ("elsewhere", "elsewhere.example", "DNS:elsewhere.example"),
    ):
        openssl("req", *key(name), "-out", f"{folder}/{name}.csr", "-subj", f"/CN={host}")
        (folder / f"{name}.ext").write_text(f"subjectAltName={names}\n")  # the names a client checks
        request = ["-req", "-in", f"{folder}/{name}.csr", "-extfile", f"{folder}/{name}.ext"]
        openssl("x509", *request, *signed_by_ca, "-out", f"{folder}/{name}.crt")
