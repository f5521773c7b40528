"""The durable queue on a real SQLite file: order, sequence numbers, size limit, damage,
upgrade of the gateway buffer's first file format."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from estatewatch.durable_queue import DurableQueue, NewItem
from estatewatch.errors import ServiceError

TOPIC = "estatewatch/site-a/elevator/e1/telemetry"


def render(seq: int, size: int = 16) -> bytes:
    """``size`` bytes starting with the seq, so each test knows every payload's length."""
    return f"{seq:08d}".encode().ljust(size, b"x")


def message(size: int = 16) -> NewItem:
    return NewItem(TOPIC, lambda seq: render(seq, size))


def messages(count: int, size: int = 16) -> list[NewItem]:
    return [message(size) for _ in range(count)]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "gateway" / "buffer.sqlite"


@pytest.fixture
def queue(path: Path) -> Iterator[DurableQueue]:
    with DurableQueue(path, max_bytes=1024**2, fsync=True) as q:
        yield q


def test_append_assigns_consecutive_seqs_and_renders_with_them(queue: DurableQueue) -> None:
    assert queue.append(messages(3)) == [1, 2, 3]
    assert queue.append([message(size=9)]) == [4]
    got = queue.peek(0, 10)
    assert [m.seq for m in got] == [1, 2, 3, 4]
    assert got[0].payload == b"00000001xxxxxxxx"
    assert got[3].payload == b"00000004x"
    assert all(m.key == TOPIC for m in got)
    assert queue.depth == 4
    assert queue.size_bytes == sum(len(m.payload) for m in got)
    assert queue.oldest_seq == 1
    assert queue.append([]) == []


def test_the_parent_directory_is_created(path: Path) -> None:
    assert not path.parent.exists()
    with DurableQueue(path, max_bytes=1000, fsync=False):
        assert path.exists()


def test_seqs_continue_across_reopen_and_after_emptying(path: Path) -> None:
    with DurableQueue(path, max_bytes=1024**2, fsync=True) as queue:
        seqs = queue.append(messages(5))
        queue.remove(seqs)
        assert queue.depth == 0
        assert queue.oldest_seq is None
        assert queue.append(messages(2)) == [6, 7]
    with DurableQueue(path, max_bytes=1024**2, fsync=True) as queue:
        assert queue.depth == 2
        assert queue.size_bytes == 2 * 16
        assert queue.next_seq == 8
        queue.remove([6, 7])
    with DurableQueue(path, max_bytes=1024**2, fsync=False) as queue:
        assert queue.depth == 0
        assert queue.append(messages(1)) == [8]


def test_peek_pages_in_seq_order_and_remove_takes_any_subset(queue: DurableQueue) -> None:
    queue.append(messages(10))
    assert [m.seq for m in queue.peek(0, 4)] == [1, 2, 3, 4]
    assert [m.seq for m in queue.peek(4, 4)] == [5, 6, 7, 8]
    assert [m.seq for m in queue.peek(8, 4)] == [9, 10]
    assert queue.peek(10, 4) == []
    # Acknowledgements may come back out of order and repeat.
    assert queue.remove([3, 1, 2, 7, 9, 9]) == 5
    assert queue.remove([1, 2]) == 0
    assert [m.seq for m in queue.peek(0, 100)] == [4, 5, 6, 8, 10]
    assert queue.depth == 5
    assert queue.oldest_seq == 4
    assert queue.size_bytes == sum(len(m.payload) for m in queue.peek(0, 100))


def test_an_item_may_have_no_key_and_a_fixed_payload(queue: DurableQueue) -> None:
    assert queue.append([NewItem.of(b"m v=1 1\n"), NewItem.of(b"{}", key="a/b")]) == [1, 2]
    assert [(m.key, m.payload) for m in queue.peek(0, 2)] == [("", b"m v=1 1\n"), ("a/b", b"{}")]


def test_a_format_1_gateway_buffer_is_upgraded_keeping_items_and_counters(path: Path) -> None:
    path.parent.mkdir(parents=True)
    old = sqlite3.connect(path, isolation_level=None)
    for statement in (
        "CREATE TABLE messages (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL,"
        " payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL)",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
        "INSERT INTO meta (key, value) VALUES ('next_seq', 42), ('dropped', 7)",
        f"INSERT INTO messages VALUES (40, '{TOPIC}', x'7b7d', 1, 0), (41, 'a/b', x'5b5d', 1, 0)",
        "PRAGMA application_id = 1163347778",  # "EWGB"
        "PRAGMA user_version = 1",
    ):
        old.execute(statement)
    old.close()
    with DurableQueue(path, max_bytes=1000, fsync=True, label="buffer") as queue:
        assert [(m.seq, m.key, m.payload) for m in queue.peek(0, 10)] == [
            (40, TOPIC, b"{}"),
            (41, "a/b", b"[]"),
        ]
        assert (queue.next_seq, queue.dropped, queue.depth) == (42, 7, 2)
        assert queue.append(messages(1)) == [42]
    with DurableQueue(path, max_bytes=1000, fsync=True) as queue:
        assert [m.seq for m in queue.peek(0, 10)] == [40, 41, 42]


def test_errors_name_the_callers_label(path: Path) -> None:
    queue = DurableQueue(path, max_bytes=1000, fsync=True, label="spill")
    with pytest.raises(ServiceError, match=f"^spill {path}: cannot append to it: it is not open"):
        queue.append(messages(1))


def test_a_failing_render_appends_nothing(queue: DurableQueue) -> None:
    def broken(seq: int) -> bytes:
        raise ValueError(f"cannot render {seq}")

    queue.append(messages(1))
    with pytest.raises(ValueError, match="cannot render 4"):
        queue.append([message(), message(), NewItem(TOPIC, broken)])
    assert queue.depth == 1
    assert queue.append(messages(1)) == [2]


def test_over_the_limit_the_oldest_are_dropped_counted_and_logged(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with DurableQueue(path, max_bytes=1000, fsync=True) as queue:
        queue.append(messages(9, size=100))
        assert queue.dropped == 0
        with caplog.at_level(logging.WARNING, logger="estatewatch.durable_queue"):
            queue.append(messages(3, size=100))  # 1200 bytes: the 2 oldest go
        assert queue.dropped == 2
        assert queue.depth == 10
        assert queue.size_bytes == 1000
        assert queue.oldest_seq == 3
        assert [m.seq for m in queue.peek(0, 100)] == list(range(3, 13))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "dropped the 2 oldest items, seq 1..2" in warnings[0]
    assert str(path) in warnings[0]
    with DurableQueue(path, max_bytes=1000, fsync=True) as queue:
        assert queue.dropped == 2
        assert queue.depth == 10


def test_drops_after_the_first_are_summarised_and_reported_on_close(
    queue: DurableQueue, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    queue.close()
    with caplog.at_level(logging.WARNING, logger="estatewatch.durable_queue"):
        with DurableQueue(path, max_bytes=50, fsync=False) as small:
            for _ in range(5):
                small.append(messages(3))  # 16 bytes each: 3 fit
            assert small.dropped == 12
            assert [m.seq for m in small.peek(0, 10)] == [13, 14, 15]
            assert len(caplog.records) == 1  # the first drop, at once
        assert len(caplog.records) == 2  # the rest, summarised on close
    assert "dropped the 12 oldest" not in caplog.records[0].getMessage()
    assert "seq 4..12" in caplog.records[1].getMessage()
    assert "12 dropped in total" in caplog.records[1].getMessage()


def test_one_append_bigger_than_the_limit_keeps_its_newest_messages(path: Path) -> None:
    with DurableQueue(path, max_bytes=40, fsync=False) as queue:
        assert queue.append(messages(5)) == [1, 2, 3, 4, 5]  # 16 bytes each
        assert [m.seq for m in queue.peek(0, 10)] == [4, 5]
        assert queue.dropped == 3


def test_a_corrupt_file_is_a_clear_error_and_is_left_alone(path: Path) -> None:
    path.parent.mkdir(parents=True)
    garbage = b"this is not SQLite\x00" * 300
    path.write_bytes(garbage)
    with pytest.raises(ServiceError, match="move it aside") as caught:
        DurableQueue(path, max_bytes=1000, fsync=True).open()
    assert str(path) in str(caught.value)
    assert path.read_bytes() == garbage


def test_another_sqlite_file_is_refused(path: Path) -> None:
    path.parent.mkdir(parents=True)
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE readings (x)")
    other.commit()
    other.close()
    with pytest.raises(ServiceError, match="not an estatewatch durable queue"):
        DurableQueue(path, max_bytes=1000, fsync=True).open()


def test_a_second_process_cannot_share_the_file(queue: DurableQueue, path: Path) -> None:
    queue.append(messages(1))
    with pytest.raises(ServiceError, match="in use by another process"):
        DurableQueue(path, max_bytes=1000, fsync=True).open()


def test_using_a_closed_queue_is_an_error(path: Path) -> None:
    queue = DurableQueue(path, max_bytes=1000, fsync=True)
    with pytest.raises(ServiceError, match="not open"):
        queue.append(messages(1))
    with pytest.raises(ServiceError, match="not open"):
        queue.peek(0, 1)
