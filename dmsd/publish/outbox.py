"""Where events wait for the broker's acknowledgement: in memory, or on disk so a crash or a power cut loses none.

An event goes in (`put`) before it is sent, and comes out (`ack`) only once the broker has acknowledged it. The
sender always takes the oldest (`oldest`). Both kinds are bounded by a count and a size: when full, the oldest
events are dropped, counted and logged, so the newest ones, which matter most, are kept.

The SQLite outbox (WAL mode, a synced commit per event) survives the daemon: what one run could not deliver, the
next run sends first, in order. A file that is not a database, or cannot be written, is moved aside with one log
line and a fresh one started; if even that fails, the events wait in memory and the daemon runs on.
"""

from __future__ import annotations

import collections
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import NamedTuple, Protocol

log = logging.getLogger(__name__)


class Pending(NamedTuple):
    id: int
    topic: str
    payload: bytes


class Outbox(Protocol):
    @property
    def dropped(self) -> int: ...

    @property
    def persistent(self) -> bool: ...

    def put(self, topic: str, payload: bytes) -> None: ...

    def oldest(self) -> Pending | None: ...

    def ack(self, event_id: int) -> None: ...

    def __len__(self) -> int: ...

    def close(self) -> None: ...


class _Bounds:
    """The count and size limits, and the log line of a drop."""

    def __init__(self, max_events: int, max_bytes: int):
        self.max_events, self.max_bytes = max_events, max_bytes
        self._dropped = 0

    @property
    def dropped(self) -> int:
        return self._dropped

    def over(self, count: int, size: int) -> bool:
        return count > self.max_events or (size > self.max_bytes and count > 1)

    def count_drop(self, what: str) -> None:
        self._dropped += 1
        log.warning(
            "MQTT: event %s full (%d events or %d bytes), dropped the oldest event (%d dropped so far)",
            what,
            self.max_events,
            self.max_bytes,
            self._dropped,
        )


class MemoryOutbox(_Bounds):
    """Events kept in this process only (`mqtt.outbox: null`): lost if it dies before the broker is back."""

    persistent = False

    def __init__(self, max_events: int, max_bytes: int, pending: list[Pending] | None = None):
        super().__init__(max_events, max_bytes)
        self._events: collections.deque[Pending] = collections.deque(pending or ())
        self._bytes = sum(len(e.payload) for e in self._events)
        self._next_id = max((e.id for e in self._events), default=0) + 1

    def put(self, topic: str, payload: bytes) -> None:
        self._events.append(Pending(self._next_id, topic, payload))
        self._next_id += 1
        self._bytes += len(payload)
        while self.over(len(self._events), self._bytes):
            self._bytes -= len(self._events.popleft().payload)
            self.count_drop("queue")

    def oldest(self) -> Pending | None:
        return self._events[0] if self._events else None

    def ack(self, event_id: int) -> None:
        if self._events and self._events[0].id == event_id:
            self._bytes -= len(self._events.popleft().payload)

    def __len__(self) -> int:
        return len(self._events)

    def close(self) -> None:
        pass


class SqliteOutbox(_Bounds):
    """Events in a SQLite file: written (and synced) before they are sent, deleted once acknowledged."""

    def __init__(self, path: Path, max_events: int, max_bytes: int):
        super().__init__(max_events, max_bytes)
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._fallback: MemoryOutbox | None = None
        self._open_or_start_afresh()
        if len(self):
            log.info(
                "MQTT: %d event(s) left undelivered by an earlier run wait in %s; they go first", len(self), self.path
            )

    # -- opening, and recovering from a bad file ---------------------------------------------------------
    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=5)
        try:
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("the integrity check failed")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # each commit reaches the disk: a power cut keeps it
            db.execute(
                "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,"
                " payload BLOB NOT NULL)"
            )
            self._count, self._bytes = db.execute(
                "SELECT count(*), coalesce(sum(length(payload)), 0) FROM events"
            ).fetchone()
            db.execute("BEGIN IMMEDIATE")  # can we write? (a read-only file opens and reads fine)
            db.execute("ROLLBACK")
        except BaseException:
            db.close()
            raise
        self._db = db

    def _open_or_start_afresh(self) -> None:
        try:
            self._open()
            return
        except (sqlite3.Error, OSError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        aside = self.path.with_name(f"{self.path.name}.bad-{time.strftime('%Y%m%dT%H%M%S')}")
        try:
            for suffix in ("", "-wal", "-shm"):
                part = Path(f"{self.path}{suffix}")
                if part.exists():
                    os.replace(part, f"{aside}{suffix}")
            self._open()
            log.error(
                "MQTT: outbox %s was unusable (%s); moved aside to %s and started a fresh one",
                self.path,
                problem,
                aside,
            )
        except (sqlite3.Error, OSError) as exc:
            log.error(
                "MQTT: outbox %s is unusable (%s) and no fresh one can be made there (%s); events wait in "
                "memory until the broker takes them",
                self.path,
                problem,
                exc,
            )
            self._fallback = MemoryOutbox(self.max_events, self.max_bytes)

    def _failed(self, exc: sqlite3.Error, pending: list[Pending]) -> MemoryOutbox:
        """The file went bad while running (disk full, removed, corrupted): carry on in memory with what it held."""
        log.error(
            "MQTT: outbox %s failed (%s: %s); %d event(s) carried on in memory",
            self.path,
            type(exc).__name__,
            exc,
            len(pending),
        )
        if self._db is not None:
            self._db.close()
            self._db = None
        self._fallback = MemoryOutbox(self.max_events, self.max_bytes, pending)
        return self._fallback

    def _database(self) -> sqlite3.Connection:
        assert self._db is not None  # open whenever there is no fallback
        return self._db

    def _rows(self) -> list[Pending]:
        try:
            rows = self._database().execute("SELECT id, topic, payload FROM events ORDER BY id").fetchall()
            return [Pending(i, t, bytes(p)) for i, t, p in rows]
        except sqlite3.Error:
            return []

    # -- the queue ------------------------------------------------------------------------------------
    def put(self, topic: str, payload: bytes) -> None:
        if self._fallback is not None:
            return self._fallback.put(topic, payload)
        try:
            with self._database() as db:
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT INTO events (topic, payload) VALUES (?, ?)", (topic, payload))
                self._count += 1
                self._bytes += len(payload)
                while self.over(self._count, self._bytes):
                    oldest = db.execute("SELECT id, length(payload) FROM events ORDER BY id LIMIT 1").fetchone()
                    db.execute("DELETE FROM events WHERE id = ?", (oldest[0],))
                    self._count -= 1
                    self._bytes -= oldest[1]
                    self.count_drop(f"outbox {self.path}")
        except sqlite3.Error as exc:
            fallback = self._failed(exc, self._rows())
            fallback.put(topic, payload)

    def oldest(self) -> Pending | None:
        if self._fallback is not None:
            return self._fallback.oldest()
        try:
            row = self._database().execute("SELECT id, topic, payload FROM events ORDER BY id LIMIT 1").fetchone()
        except sqlite3.Error as exc:
            self._failed(exc, [])
            return None
        return Pending(row[0], row[1], bytes(row[2])) if row else None

    def ack(self, event_id: int) -> None:
        if self._fallback is not None:
            return self._fallback.ack(event_id)
        try:
            size = self._database().execute("SELECT length(payload) FROM events WHERE id = ?", (event_id,)).fetchone()
            if size is not None:
                self._database().execute("DELETE FROM events WHERE id = ?", (event_id,))
                self._count -= 1
                self._bytes -= size[0]
        except sqlite3.Error as exc:
            self._failed(exc, [e for e in self._rows() if e.id != event_id])

    def __len__(self) -> int:
        return len(self._fallback) if self._fallback is not None else self._count

    @property
    def dropped(self) -> int:
        return self._dropped + (self._fallback.dropped if self._fallback is not None else 0)

    @property
    def persistent(self) -> bool:
        return self._fallback is None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def open_outbox(path: Path | None, max_events: int, max_bytes: int) -> MemoryOutbox | SqliteOutbox:
    return MemoryOutbox(max_events, max_bytes) if path is None else SqliteOutbox(path, max_events, max_bytes)
