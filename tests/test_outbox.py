"""The outbox: on disk (or in memory), bounded, recovered from a bad file or one that fails while running, and every
event delivered across a SIGKILL."""

import json
import logging
import re
import signal
import sqlite3
import time

import pytest
from test_daemon_mqtt import alternating_frames

from dmsd.config import Config, load_config
from dmsd.publish.outbox import MemoryOutbox, SqliteOutbox
from harness import CLIP, Broker, LineReader, printed_events, run_dmsd, running_dmsd, write_config


def fill(outbox, n, start=0):
    for i in range(start, start + n):
        outbox.put("dms/t/events", json.dumps({"seq": i}).encode())


def seqs(outbox):
    """The seq of each event, oldest first, each acknowledged as it is taken (at most 100: an outbox that keeps an
    acknowledged event would go on for ever)."""
    out = []
    while (pending := outbox.oldest()) is not None and len(out) < 100:
        assert pending.topic == "dms/t/events"
        out.append(json.loads(pending.payload)["seq"])
        outbox.ack(pending.id)
    return out


def test_events_outlive_the_process_in_order_and_leave_only_when_acknowledged(tmp_path):
    path = tmp_path / "state" / "dmsd" / "outbox.sqlite"  # its folders made as needed
    outbox = SqliteOutbox(path, max_events=100, max_bytes=1_000_000)
    fill(outbox, 5)
    first = outbox.oldest()
    assert json.loads(first.payload) == {"seq": 0} and first.topic == "dms/t/events"
    outbox.ack(first.id)
    outbox.close()  # as good as a crash: every put was committed
    assert not path.with_name("outbox.sqlite-wal").exists()  # closed: the log folded into the file
    outbox.close()  # closing twice is closing
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    again = SqliteOutbox(path, max_events=100, max_bytes=1_000_000)
    assert again.persistent and len(again) == 4 and seqs(again) == [1, 2, 3, 4] and len(again) == 0


def test_full_outbox_drops_the_oldest_by_count_and_by_size(tmp_path, caplog):
    by_count = SqliteOutbox(tmp_path / "a.sqlite", max_events=3, max_bytes=1_000_000)
    fill(by_count, 5)
    assert by_count.dropped == 2 and seqs(by_count) == [2, 3, 4]
    by_size = SqliteOutbox(tmp_path / "b.sqlite", max_events=100, max_bytes=40)  # each payload is 10-11 bytes
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        fill(by_size, 10)  # 10 bytes each: four fit in 40
    assert by_size.dropped == 6 and caplog.text.count("dropped the oldest event") == 6
    assert seqs(by_size) == [6, 7, 8, 9]
    assert by_count.persistent and by_size.persistent and "failed" not in caplog.text


def test_a_corrupt_outbox_is_moved_aside_and_a_fresh_one_started(tmp_path, caplog):
    path = tmp_path / "outbox.sqlite"
    path.write_bytes(b"this is not a database, a power cut mangled it" * 100)
    with caplog.at_level(logging.ERROR):
        outbox = SqliteOutbox(path, max_events=10, max_bytes=10_000)
    assert len(caplog.records) == 1 and "moved aside to" in caplog.text
    assert "(DatabaseError: file is not a database)" in caplog.text
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("outbox.sqlite.bad-")]
    assert len(aside) == 1 and re.fullmatch(r"outbox\.sqlite\.bad-\d{8}T\d{6}", aside[0].name)  # README: bad-<time>
    assert aside[0].read_bytes().startswith(b"this is not a database") and outbox.persistent
    fill(outbox, 2)
    assert seqs(outbox) == [0, 1]


def test_an_outbox_that_cannot_be_made_keeps_events_in_memory(tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the state directory should be")
    with caplog.at_level(logging.ERROR):
        outbox = SqliteOutbox(blocker / "outbox.sqlite", max_events=10, max_bytes=10_000)
    assert "events wait in memory" in caplog.text and len(caplog.records) == 1 and not outbox.persistent
    fill(outbox, 3)
    assert seqs(outbox) == [0, 1, 2]
    outbox.close()


@pytest.fixture(params=["memory", "sqlite"])
def make_outbox(request, tmp_path):
    """Either kind of outbox, with the bounds asked for."""

    def make(max_events: int = 100, max_bytes: int = 1_000_000):
        if request.param == "memory":
            return MemoryOutbox(max_events, max_bytes)
        outbox = SqliteOutbox(tmp_path / "outbox.sqlite", max_events, max_bytes)
        assert outbox.persistent
        return outbox

    return make


def test_the_size_bound_counts_what_waits_now(make_outbox):
    outbox = make_outbox(max_bytes=40)  # four events of 10 bytes
    fill(outbox, 4)
    for _ in range(2):
        outbox.ack(outbox.oldest().id)
    fill(outbox, 2, start=4)  # 40 bytes wait: within the bound
    assert outbox.dropped == 0 and len(outbox) == 4
    fill(outbox, 3, start=6)  # each one more over it: the oldest goes
    assert outbox.dropped == 3 and seqs(outbox) == [5, 6, 7, 8] and len(outbox) == 0
    assert outbox.persistent is isinstance(outbox, SqliteOutbox)  # dropping is no failure: still on disk


def test_an_event_larger_than_the_size_bound_is_kept_alone(make_outbox):
    outbox = make_outbox(max_bytes=5)
    fill(outbox, 1)
    assert outbox.dropped == 0 and len(outbox) == 1
    fill(outbox, 1, start=1)
    assert outbox.dropped == 1 and seqs(outbox) == [1]
    assert outbox.persistent is isinstance(outbox, SqliteOutbox)


def test_the_acknowledgement_of_an_event_dropped_in_flight_removes_no_other(make_outbox):
    outbox = make_outbox(max_events=2)
    fill(outbox, 1)
    in_flight = outbox.oldest()
    fill(outbox, 2, start=1)  # full: the one in flight is dropped
    outbox.ack(in_flight.id)  # its PUBACK comes after all
    assert seqs(outbox) == [1, 2]


def refuse(path, statement: str, error: str) -> None:
    """Make `statement`s on the outbox's table fail with `error`, as a full or failing disk makes them, from another
    connection."""
    other = sqlite3.connect(path)
    other.execute(f"CREATE TRIGGER refuse BEFORE {statement} ON events BEGIN SELECT RAISE(ABORT, '{error}'); END")
    other.commit()
    other.close()


@pytest.mark.parametrize("new", [2, 4])
def test_an_outbox_that_fails_to_write_carries_on_in_memory_with_what_it_held(tmp_path, caplog, new):
    path = tmp_path / "outbox.sqlite"
    outbox = SqliteOutbox(path, max_events=2, max_bytes=1_000_000)
    fill(outbox, 2)
    in_flight = outbox.oldest()
    refuse(path, "INSERT", "disk full")
    with caplog.at_level(logging.ERROR):
        fill(outbox, new, start=2)  # the first fails over to memory, still bounded: the oldest go
    assert f"outbox {path} failed (IntegrityError: disk full); 2 event(s) carried on in memory" in caplog.text
    assert not outbox.persistent and len(outbox) == 2 and outbox.dropped == new
    assert not path.with_name("outbox.sqlite-wal").exists()  # the failed file is closed, not held open
    outbox.ack(in_flight.id)  # dropped in flight: its acknowledgement removes none of the new ones
    assert seqs(outbox) == [new, new + 1]
    outbox.close()
    outbox.close()  # closing twice is closing


def test_an_outbox_that_fails_to_delete_still_lets_the_acknowledged_event_go(tmp_path, caplog):
    path = tmp_path / "outbox.sqlite"
    outbox = SqliteOutbox(path, max_events=10, max_bytes=1_000_000)
    fill(outbox, 3)
    refuse(path, "DELETE", "disk I/O error")
    with caplog.at_level(logging.ERROR):
        outbox.ack(outbox.oldest().id)
    assert "failed (IntegrityError: disk I/O error); 2 event(s) carried on in memory" in caplog.text
    assert not outbox.persistent and seqs(outbox) == [1, 2]


@pytest.mark.parametrize("first", ["put", "oldest"])
def test_an_outbox_whose_table_is_gone_carries_on_in_memory(tmp_path, caplog, first):
    path = tmp_path / "outbox.sqlite"
    outbox = SqliteOutbox(path, max_events=10, max_bytes=1_000_000)
    fill(outbox, 2)
    other = sqlite3.connect(path)
    other.execute("DROP TABLE events")  # what it held cannot be read: those events are gone
    other.commit()
    other.close()
    with caplog.at_level(logging.ERROR):
        if first == "put":
            fill(outbox, 1, start=2)
        else:
            assert outbox.oldest() is None
    assert "failed (OperationalError: no such table: events); 0 event(s) carried on in memory" in caplog.text
    assert not outbox.persistent
    fill(outbox, 1, start=3)
    assert seqs(outbox) == ([2, 3] if first == "put" else [3])


def test_the_default_outbox_lives_in_the_state_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/dmsd")
    assert Config().mqtt.outbox_path() == __import__("pathlib").Path("/var/lib/dmsd/outbox.sqlite")
    monkeypatch.delenv("STATE_DIRECTORY")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert Config().mqtt.outbox_path() == tmp_path / "dmsd" / "outbox.sqlite"
    config = load_config(write_config(tmp_path / "c.yaml", "mqtt:\n  outbox: null\n"))
    assert config.mqtt.outbox_path() is None


def test_sigkill_while_the_broker_is_down_loses_nothing(tmp_path, subscribe):
    """Events raised with the broker down, the daemon killed with SIGKILL, the broker back, the daemon restarted:
    the first run's events arrive first, once each, in order, with their own ts and run id; then the new run's."""
    workdir = tmp_path / "broker"
    workdir.mkdir()
    broker = Broker(workdir).start()
    sub = subscribe(broker, "dms/kill-car/events")  # a persistent session: kept across the broker's restart
    broker.stop()
    state = tmp_path / "state"
    frames = alternating_frames(tmp_path / "frames", seconds_each=1.0, fps=5, cycles=5)
    config = write_config(
        tmp_path / "c.yaml",
        (
            "device_id: kill-car\nsource:\n  fps: 5\n  realtime: true\n"
            "state:\n  absent_after_s: 0.5\n  emotion_hold_s: 0.2\n  seatbelt_debounce_s: 0.2\n"
            "mqtt:\n  reconnect_min_s: 1\n  reconnect_max_s: 1\n  drain_timeout_s: 20\n"
        ),
    )
    env = {"XDG_STATE_HOME": str(state)}
    try:
        with running_dmsd(
            "--config", str(config), "--source", str(frames), "--mqtt", broker.address, "--print", env=env
        ) as first:
            reader = LineReader(first)
            reader.wait(lambda lines: len(printed_events(lines)) >= 4, timeout=30)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            lines = reader.finish()
        raised_first = printed_events(lines)
        assert len(raised_first) >= 4
        broker.start()
        with running_dmsd(
            "--config",
            str(config),
            "--source",
            str(frames),
            "--max-frames",
            "8",
            "--mqtt",
            broker.address,
            "--print",
            env=env,
        ) as second:
            stdout, stderr = second.communicate(timeout=60)
        assert second.returncode == 0, stderr
        assert "left undelivered by an earlier run" in stderr and "Traceback" not in stderr
        raised_second = printed_events(stdout.splitlines())
        expected = len(raised_first) + len(raised_second)
        sub.wait_for(lambda m: len(m) >= expected, timeout=30)
        time.sleep(1)
        received = sub.payloads("events")
    finally:
        broker.stop()
    # Every event the first run printed had been written to its outbox first; the kill may have cut one more
    # between the two, which arrives too.
    assert received[: len(raised_first)] == raised_first
    first_run = raised_first[0]["run"]
    from_first = [e for e in received if e["run"] == first_run]
    assert [e["seq"] for e in from_first] == list(range(1, len(from_first) + 1))  # once each, in order
    assert received[len(from_first) :] == raised_second and raised_second[0]["run"] != first_run
    ids = [(e["run"], e["seq"]) for e in received]
    assert len(ids) == len(set(ids))


def test_the_daemon_with_a_corrupt_outbox_logs_one_line_and_delivers(broker, subscribe, tmp_path):
    state = tmp_path / "state"
    (state / "dmsd").mkdir(parents=True)
    (state / "dmsd" / "outbox.sqlite").write_bytes(b"\x00garbage after a power cut" * 500)
    sub = subscribe(broker, "dms/corrupt-car/events")
    config = write_config(tmp_path / "c.yaml", "device_id: corrupt-car\n")
    result = run_dmsd(
        "--config",
        str(config),
        "--source",
        str(CLIP),
        "--max-frames",
        "40",
        "--mqtt",
        broker.address,
        "--print",
        env={"XDG_STATE_HOME": str(state)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("was unusable") == 1 and "Traceback" not in result.stderr
    raised = printed_events(result.stdout.splitlines())
    sub.wait_for(lambda m: len(m) >= len(raised), timeout=20)
    assert raised and sub.payloads("events") == raised
    assert len(list((state / "dmsd").glob("outbox.sqlite.bad-*"))) == 1
