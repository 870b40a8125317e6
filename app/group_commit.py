"""Group commit: the rows of many read requests stored by one transaction, in a writer thread of their own.

A read route (app.routing) stores one thing, its audit row, and a commit per read would cost more than the
read itself. Instead the route hands its rows here once it has succeeded. On the event loop, the rows of
every request that finishes in the same turn of the loop are gathered into one batch (no timer, so no
added wait); the writer thread takes every batch that arrived while it was busy, inserts it all in one
transaction and commits, then wakes the waiting requests once per batch.

The guarantee, with HEP_AUDIT_WAIT on (the default): a read's answer is sent only after its audit row is
committed, so a read the patient saw was always recorded, as when each read committed on its own. With
HEP_AUDIT_WAIT=0 the answer does not wait: a hard crash (kill -9, power) can lose the audit rows of the
reads answered in the last batch window, i.e. those queued or inside the commit in flight (at most one
commit's duration, a few milliseconds; docs/performance.md measures it). A clean shutdown loses nothing
(close() stores what is queued). Writes of patient data never come here: they commit in their request's
own transaction before the answer.
"""

import asyncio
import atexit
import functools
import queue
import threading
import time
from collections import deque
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Engine

from app.query import Insert

Rows = list[tuple[Table, dict[str, Any]]]
# One request's rows and the future its route awaits (on the event loop that made it).
Waiting = tuple[Rows, "asyncio.Future[None]"]
# A bound on one transaction's size: under a flood the writer commits every this many rows.
MAX_BATCH_ROWS = 2000


class GroupCommitWriter:
    """One writer thread per engine. `store` (on the event loop) returns a future that completes when the
    rows are committed, or fails with the database's error, which the request then answers with."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._gathering: list[Waiting] | None = None
        self._queue: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, list[Waiting]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="hep-group-commit", daemon=True)
        self._thread.start()
        self.batches = 0
        self.rows = 0
        # How long the latest commits took (seconds): the window of the unwaited guarantee (bench/cpu.py).
        self.commit_seconds: deque[float] = deque(maxlen=10_000)

    def store(self, rows: Rows) -> "asyncio.Future[None]":
        """On the event loop: the rows join this turn of the loop's batch."""
        loop = asyncio.get_running_loop()
        if self._gathering is None:
            self._gathering = []
            loop.call_soon(self._hand_over, loop)
        done: asyncio.Future[None] = loop.create_future()
        self._gathering.append((rows, done))
        return done

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        gathered, self._gathering = self._gathering or [], None
        self._queue.put((loop, gathered))

    def close(self, timeout: float = 10) -> None:
        """Store what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            size = sum(len(rows) for rows, _ in first[1])
            while size < MAX_BATCH_ROWS:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
                size += sum(len(rows) for rows, _ in item[1])
            self._store(batch)

    def _store(self, batch: list[tuple[asyncio.AbstractEventLoop, list[Waiting]]]) -> None:
        """One transaction for the whole batch, then one wake-up per event loop. If the transaction fails,
        each request's rows are tried on their own, so that one request's bad row (its patient deleted
        meanwhile, say) fails that request alone."""
        waiting = [request for _, requests in batch for request in requests]
        failure = self._commit([rows for rows, _ in waiting])
        outcomes: list[tuple[asyncio.Future[None], Exception | None]] = []
        if failure is None or len(waiting) == 1:
            outcomes = [(done, failure) for _, done in waiting]
        else:
            outcomes = [(done, self._commit([rows])) for rows, done in waiting]
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[None], Exception | None]]] = {}
        futures = {id(done): loop for loop, requests in batch for _, done in requests}
        for done, outcome in outcomes:
            by_loop.setdefault(futures[id(done)], []).append((done, outcome))
        for loop, settled in by_loop.items():
            # Nobody is left to tell once a loop has closed (a test client's, when its reads did not wait).
            if not loop.is_closed():
                loop.call_soon_threadsafe(_settle, settled)

    def _commit(self, requests_rows: list[Rows]) -> Exception | None:
        by_table: dict[Table, list[dict[str, Any]]] = {}
        for rows in requests_rows:
            for table, row in rows:
                by_table.setdefault(table, []).append(row)
        if not by_table:
            # Nothing to store (a `store([])`): settled once the batches queued before it are, with no
            # transaction of its own and no count (bench/cpu.py awaits one to wait for those commits).
            return None
        started = time.perf_counter()
        try:
            with self._engine.begin() as connection:
                for table, table_rows in by_table.items():
                    _insert(table).run(connection, table_rows)
        except Exception as exc:
            return exc
        self.commit_seconds.append(time.perf_counter() - started)
        self.batches += 1
        self.rows += sum(len(table_rows) for table_rows in by_table.values())
        return None


@functools.cache
def _insert(table: Table) -> Insert:
    """The table's INSERT, compiled once, run on the driver (app.query): a batch of rows as one
    executemany."""
    return Insert(table)


def _settle(settled: list[tuple["asyncio.Future[None]", Exception | None]]) -> None:
    for done, failure in settled:
        if done.done():
            continue
        if failure is None:
            done.set_result(None)
        else:
            done.set_exception(failure)


_writers: dict[Engine, GroupCommitWriter] = {}
_lock = threading.Lock()


def writer_for(engine: Engine) -> GroupCommitWriter:
    writer = _writers.get(engine)
    if writer is None:
        with _lock:
            writer = _writers.get(engine) or _writers.setdefault(engine, GroupCommitWriter(engine))
    return writer


@atexit.register
def close_all() -> None:
    """Store every queued row and stop the writers (the API's shutdown and the interpreter's exit)."""
    with _lock:
        writers = list(_writers.values())
        _writers.clear()
    for writer in writers:
        writer.close()
