"""A durable FIFO in one SQLite file: items are a ``key`` and ``payload`` bytes.

Two users: the gateway's outgoing buffer (key = MQTT topic; an item is removed only after
the central broker acknowledged it) and ingest's spill (key unused; a batch of line
protocol is removed only after InfluxDB stored it). So an outage, a crash or a restart
loses nothing that reached the queue. Each ``append`` is one transaction that also assigns
the items their sequence numbers from a counter stored in the same file: numbers are
consecutive, keep increasing across restarts and are never reused, even after the queue
has emptied. The queue knows nothing of MQTT or InfluxDB; ``key`` is the caller's.

Durability: the file is in WAL mode. With ``fsync`` (``synchronous=FULL``) a committed
append survives SIGKILL and power cuts. Without it (``synchronous=NORMAL``) it survives
SIGKILL, but a power cut may roll back the appends since the last checkpoint, and with
them the sequence counter, so numbers already published could be handed out again.

Space: ``max_bytes`` bounds the payload bytes held. An append that goes past it drops the
oldest items until the queue fits again; drops are counted persistently (``dropped``)
and logged as WARNINGs naming how many and which sequence numbers were lost (the first
drop at once, later ones summarised at most once a minute and on close).

Errors: every SQLite failure, including a corrupt, foreign or locked file, and use of a
queue that is not open, raises :class:`estatewatch.errors.ServiceError` naming the file
(prefixed with the caller's ``label``, e.g. "buffer" or "spill"). A damaged file is never
deleted or rewritten: the message says to move it aside. The file is opened in exclusive
locking mode, so a second process using the same file fails at ``open()`` instead of
interleaving sequence numbers.

File format: schema version 2 (``seq``, ``key``, ``payload``). Version 1, written by
gateways before the queue moved into the kernel, had ``topic``, ``qos`` and ``retain``
columns (qos was always 1, retain always false); ``open()`` upgrades such a file in place,
keeping its items, sequence counter and drop count.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from estatewatch.errors import ServiceError

__all__ = ["DurableQueue", "NewItem", "QueuedItem"]

log = logging.getLogger(__name__)

# "EWGB" (estatewatch gateway buffer, its first user): tells our file apart from any other
# SQLite file. Unchanged since, so that existing gateway buffers still open.
APPLICATION_ID: Final = 0x45574742
SCHEMA_VERSION: Final = 2
FIRST_SEQ: Final = 1  # so that peek(after_seq=0) starts at the beginning
DROP_WARNING_INTERVAL_S: Final = 60.0
# Truncate the WAL back to this size after a checkpoint; it only grows past it while a
# big backlog is written faster than it is checkpointed.
_JOURNAL_SIZE_LIMIT: Final = 16 * 1024 * 1024

# The table keeps its version 1 name, "messages", so that an upgrade only alters columns.
_SCHEMA: Final = (
    """CREATE TABLE messages (
        seq INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        payload BLOB NOT NULL
    )""",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    f"INSERT INTO meta (key, value) VALUES ('next_seq', {FIRST_SEQ}), ('dropped', 0)",
    f"PRAGMA application_id = {APPLICATION_ID}",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)
_UPGRADE_FROM_1: Final = (
    "ALTER TABLE messages RENAME COLUMN topic TO key",
    "ALTER TABLE messages DROP COLUMN qos",
    "ALTER TABLE messages DROP COLUMN retain",
    "PRAGMA user_version = 2",
)


@dataclass(frozen=True, slots=True)
class NewItem:
    """An item to queue; ``render`` builds its payload once its ``seq`` is known (the
    gateway writes the seq into each message)."""

    key: str
    render: Callable[[int], bytes]

    @classmethod
    def of(cls, payload: bytes, key: str = "") -> NewItem:
        """An item whose payload does not depend on its seq."""
        return cls(key, lambda _seq: payload)


@dataclass(frozen=True, slots=True)
class QueuedItem:
    seq: int
    key: str
    payload: bytes


@dataclass(slots=True)
class _DropSummary:
    """Drops not yet reported in a warning."""

    count: int = 0
    first_seq: int = 0
    last_seq: int = 0
    nbytes: int = 0

    def add(self, count: int, first_seq: int, last_seq: int, nbytes: int) -> None:
        if not self.count:
            self.first_seq = first_seq
        self.count += count
        self.last_seq = last_seq
        self.nbytes += nbytes


class DurableQueue:
    """A FIFO of items in one SQLite file; see the module docstring."""

    def __init__(self, path: Path, max_bytes: int, fsync: bool, *, label: str = "queue") -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.path = path
        self.label = label
        self.max_bytes = max_bytes
        self.fsync = fsync
        self._db: sqlite3.Connection | None = None
        self._next_seq = FIRST_SEQ
        self._dropped = 0
        self._depth = 0
        self._size = 0
        self._unreported = _DropSummary()
        self._last_drop_warning = -DROP_WARNING_INTERVAL_S

    def __repr__(self) -> str:
        return f"DurableQueue({str(self.path)!r}, depth={self._depth}, bytes={self._size})"

    # --- life cycle ------------------------------------------------------------------

    def open(self) -> None:
        if self._db is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ServiceError(
                f"{self.label} {self.path}: cannot create its directory: {exc}"
            ) from exc
        try:
            # Transactions are explicit (BEGIN IMMEDIATE ... COMMIT), never implicit.
            db = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            raise ServiceError(f"{self.label} {self.path}: cannot open: {exc}") from exc
        try:
            self._prepare(db)
        except sqlite3.Error as exc:
            db.close()
            raise ServiceError(
                f"{self.label} {self.path}: unreadable or in use by another process ({exc});"
                f" if it is damaged, move it aside to start with an empty {self.label}"
            ) from exc
        except BaseException:
            db.close()
            raise
        self._db = db
        log.info(
            "%s %s: %d items (%d bytes) queued, next seq %d, %d dropped so far",
            self.label,
            self.path,
            self._depth,
            self._size,
            self._next_seq,
            self._dropped,
        )

    def close(self) -> None:
        if self._db is None:
            return
        self._report_drops(force=True)
        db, self._db = self._db, None
        try:
            db.close()
        except sqlite3.Error as exc:
            raise ServiceError(f"{self.label} {self.path}: cannot close: {exc}") from exc

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- state -----------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Items queued (appended, not yet removed or dropped)."""
        return self._depth

    @property
    def size_bytes(self) -> int:
        """Payload bytes queued; what ``max_bytes`` limits."""
        return self._size

    @property
    def dropped(self) -> int:
        """Items dropped for space since the file was created."""
        return self._dropped

    @property
    def next_seq(self) -> int:
        """The sequence number the next appended item will get."""
        return self._next_seq

    @property
    def oldest_seq(self) -> int | None:
        row = self._query_one("SELECT min(seq) FROM messages")
        return None if row[0] is None else int(row[0])

    # --- operations ------------------------------------------------------------------

    def append(self, items: Sequence[NewItem]) -> list[int]:
        """Queue ``items`` in one transaction; returns the sequence numbers they got.

        An exception from ``render`` rolls the whole append back and propagates as is.
        """
        if not items:
            return []
        first = self._next_seq
        seqs = list(range(first, first + len(items)))
        rows = [(seq, item.key, item.render(seq)) for seq, item in zip(seqs, items, strict=True)]
        added = sum(len(row[2]) for row in rows)
        with self._transaction("append to") as db:
            db.executemany(
                "INSERT INTO messages (seq, key, payload) VALUES (?, ?, ?)",
                rows,
            )
            db.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (first + len(items),))
            drop = self._make_room(db, self._size + added)
        self._next_seq = first + len(items)
        self._depth += len(items)
        self._size += added
        if drop is not None:
            self._dropped_committed(*drop)
        return seqs

    def peek(self, after_seq: int, limit: int) -> list[QueuedItem]:
        """Up to ``limit`` queued items with ``seq > after_seq``, oldest first."""
        rows = self._query_all(
            "SELECT seq, key, payload FROM messages WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        return [QueuedItem(int(seq), str(key), bytes(payload)) for seq, key, payload in rows]

    def remove(self, seqs: Sequence[int]) -> int:
        """Delete the given items in one transaction; returns how many were queued.

        Sequence numbers no longer queued (dropped, or removed before) are ignored.
        """
        if not seqs:
            return 0
        count = nbytes = 0
        with self._transaction("remove from") as db:
            # Acknowledgements mostly arrive in order, so a few range deletes do the work.
            for low, high in _ranges(seqs):
                lengths = db.execute(
                    "DELETE FROM messages WHERE seq BETWEEN ? AND ? RETURNING length(payload)",
                    (low, high),
                ).fetchall()
                count += len(lengths)
                nbytes += sum(int(n) for (n,) in lengths)
        self._depth -= count
        self._size -= nbytes
        return count

    # --- internals -------------------------------------------------------------------

    def _prepare(self, db: sqlite3.Connection) -> None:
        # Exclusive locking: one process per file, and WAL without a shared-memory file.
        db.execute("PRAGMA locking_mode = EXCLUSIVE")
        db.execute("PRAGMA busy_timeout = 0")
        (mode,) = db.execute("PRAGMA journal_mode = WAL").fetchone()
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"cannot switch to WAL mode (got {mode!r})")
        db.execute(f"PRAGMA synchronous = {'FULL' if self.fsync else 'NORMAL'}")
        db.execute(f"PRAGMA journal_size_limit = {_JOURNAL_SIZE_LIMIT}")
        db.execute("BEGIN IMMEDIATE")
        try:
            self._check_or_create(db)
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            depth, size = db.execute(
                "SELECT count(*), coalesce(sum(length(payload)), 0) FROM messages"
            ).fetchone()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        try:
            self._next_seq, self._dropped = int(meta["next_seq"]), int(meta["dropped"])
        except (KeyError, TypeError, ValueError) as exc:
            raise sqlite3.DatabaseError(f"the meta table is damaged: {meta!r}") from exc
        self._depth, self._size = int(depth), int(size)

    def _check_or_create(self, db: sqlite3.Connection) -> None:
        (app_id,) = db.execute("PRAGMA application_id").fetchone()
        (version,) = db.execute("PRAGMA user_version").fetchone()
        (tables,) = db.execute("SELECT count(*) FROM sqlite_schema").fetchone()
        if app_id == 0 and tables == 0:
            for statement in _SCHEMA:
                db.execute(statement)
            return
        if app_id != APPLICATION_ID:
            raise sqlite3.DatabaseError(
                "an SQLite file, but not an estatewatch durable queue (gateway buffer or spill)"
            )
        if version == 1:
            for statement in _UPGRADE_FROM_1:
                db.execute(statement)
            log.info(
                "%s %s: upgraded from file format 1 to %d", self.label, self.path, SCHEMA_VERSION
            )
        elif version != SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"file format version {version}, this version of estatewatch reads {SCHEMA_VERSION}"
            )

    def _make_room(self, db: sqlite3.Connection, size: int) -> tuple[int, int, int, int] | None:
        """Delete the oldest rows until ``size`` fits; (count, first, last, bytes) or None."""
        excess = size - self.max_bytes
        if excess <= 0:
            return None
        count = freed = 0
        first = last = 0
        cursor = db.execute("SELECT seq, length(payload) FROM messages ORDER BY seq")
        try:
            for seq, length in cursor:
                if not count:
                    first = int(seq)
                count += 1
                freed += int(length)
                last = int(seq)
                if freed >= excess:
                    break
        finally:
            cursor.close()
        db.execute("DELETE FROM messages WHERE seq <= ?", (last,))
        db.execute("UPDATE meta SET value = value + ? WHERE key = 'dropped'", (count,))
        return count, first, last, freed

    def _dropped_committed(self, count: int, first: int, last: int, nbytes: int) -> None:
        self._depth -= count
        self._size -= nbytes
        self._dropped += count
        self._unreported.add(count, first, last, nbytes)
        self._report_drops(force=False)

    def _report_drops(self, *, force: bool) -> None:
        summary = self._unreported
        if not summary.count:
            return
        now = time.monotonic()
        # During a long outage every flush drops a little; one line a minute says it all.
        if not force and now - self._last_drop_warning < DROP_WARNING_INTERVAL_S:
            return
        log.warning(
            "%s %s is full (limit %d bytes): dropped the %d oldest items,"
            " seq %d..%d (%d bytes); %d dropped in total",
            self.label,
            self.path,
            self.max_bytes,
            summary.count,
            summary.first_seq,
            summary.last_seq,
            summary.nbytes,
            self._dropped,
        )
        self._unreported = _DropSummary()
        self._last_drop_warning = now

    def _connection(self, doing: str) -> sqlite3.Connection:
        if self._db is None:
            raise ServiceError(f"{self.label} {self.path}: cannot {doing} it: it is not open")
        return self._db

    @contextlib.contextmanager
    def _transaction(self, doing: str) -> Iterator[sqlite3.Connection]:
        db = self._connection(doing)
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (disk full) can leave the transaction open.
                if db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise ServiceError(f"{self.label} {self.path}: cannot {doing} it: {exc}") from exc

    def _query_one(self, sql: str) -> tuple[Any, ...]:
        try:
            row: tuple[Any, ...] = self._connection("read").execute(sql).fetchone()
        except sqlite3.Error as exc:
            raise ServiceError(f"{self.label} {self.path}: cannot read it: {exc}") from exc
        return row

    def _query_all(self, sql: str, params: tuple[int, ...]) -> list[tuple[Any, ...]]:
        try:
            rows: list[tuple[Any, ...]] = self._connection("read").execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise ServiceError(f"{self.label} {self.path}: cannot read it: {exc}") from exc
        return rows


def _ranges(seqs: Sequence[int]) -> Iterator[tuple[int, int]]:
    """Runs of consecutive numbers in ``seqs``, as (low, high) pairs."""
    ordered = sorted(set(seqs))
    low = high = ordered[0]
    for seq in ordered[1:]:
        if seq != high + 1:
            yield low, high
            low = seq
        high = seq
    yield low, high
