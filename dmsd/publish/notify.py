"""systemd's sd_notify protocol, without libsystemd: READY (with STATUS), WATCHDOG and STOPPING datagrams.

Does nothing when not started by systemd (no $NOTIFY_SOCKET). A socket path starting with '@' is in the
abstract namespace.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


class SystemdNotifier:
    def __init__(self, environ: Mapping[str, str] | None = None):
        environ = os.environ if environ is None else environ
        address = environ.get("NOTIFY_SOCKET", "")
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.socket: socket.socket | None = None
        if self.address:
            self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        watched = usec.isdigit() and (not pid or pid == str(os.getpid()))
        # Ping at half the interval systemd allows, as sd_watchdog_enabled(3) advises.
        self.watchdog_interval = int(usec) / 2e6 if watched else None
        self._last_ping = 0.0

    @property
    def enabled(self) -> bool:
        return self.socket is not None

    def notify(self, message: str, wait: bool = True) -> bool:
        """Send one message; with wait=False give up at once if systemd's queue is full."""
        if self.socket is None:
            return False
        # systemd's receive queue is short; when it is full, wait at most 2 s, or not at all.
        self.socket.settimeout(2.0 if wait else 0.0)
        try:
            self.socket.sendto(message.encode(), self.address)
            return True
        except BlockingIOError:
            log.debug("sd_notify queue full, skipped %s", message)
            return False
        except OSError as exc:
            log.warning("sd_notify to %s failed: %s", self.address.replace("\0", "@"), exc)
            return False

    def ready(self, status: str) -> None:
        self.notify(f"READY=1\nSTATUS={status}")

    def watchdog(self) -> None:
        """Called from the frame loop: a loop that hangs stops pinging, and systemd restarts us."""
        if self.watchdog_interval is None:
            return
        now = time.monotonic()
        if now - self._last_ping >= self.watchdog_interval:
            self._last_ping = now
            self.notify("WATCHDOG=1", wait=False)  # from the frame loop: never block it

    def stopping(self) -> None:
        self.notify("STOPPING=1")
