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
import queue
import threading
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Engine

Rows = list[tuple[Table, dict[str, Any]]]
_STOP = None
# A bound on one transaction's size: under a flood the writer commits every this many rows.
MAX_BATCH_ROWS = 2000


class GroupCommitWriter:
    """One writer thread per engine; `submit` returns a future that completes when the rows are committed
    (or fails with the database's error, which the request then answers with)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._gathering: tuple[Rows, asyncio.Future[None]] | None = None
        self._queue: queue.SimpleQueue[tuple[Rows, Future[None]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="hep-group-commit", daemon=True)
        self._thread.start()
        self.batches = 0
        self.rows = 0

    def submit(self, rows: Rows) -> Future[None]:
        future: Future[None] = Future()
        self._queue.put((rows, future))
        return future

    def store(self, rows: Rows) -> "asyncio.Future[None]":
        """On the event loop: the rows join this turn's batch; the future completes when it is committed."""
        if self._gathering is None:
            loop = asyncio.get_running_loop()
            self._gathering = ([], loop.create_future())
            loop.call_soon(self._hand_over, loop)
        gathered, done = self._gathering
        gathered.extend(rows)
        return done

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._gathering is not None
        rows, done = self._gathering
        self._gathering = None
        self.submit(rows).add_done_callback(lambda stored: _tell(loop, stored, done))

    def close(self, timeout: float = 10) -> None:
        """Store what is queued, then stop the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            size = len(first[0])
            while size < MAX_BATCH_ROWS:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
                size += len(item[0])
            self._store(batch)

    def _store(self, batch: list[tuple[Rows, Future[None]]]) -> None:
        by_table: dict[Table, list[dict[str, Any]]] = {}
        for rows, _ in batch:
            for table, row in rows:
                by_table.setdefault(table, []).append(row)
        try:
            with self._engine.begin() as connection:
                for table, table_rows in by_table.items():
                    connection.execute(insert(table), table_rows)
        except Exception as exc:  # every request of the batch answers with the failure
            for _, future in batch:
                future.set_exception(exc)
            return
        self.batches += 1
        self.rows += sum(len(table_rows) for table_rows in by_table.values())
        for _, future in batch:
            future.set_result(None)


def _tell(loop: asyncio.AbstractEventLoop, stored: Future[None], done: "asyncio.Future[None]") -> None:
    """From the writer thread: complete the loop's future (nobody is left to tell once the loop closed,
    e.g. a test client's loop when its requests did not wait)."""
    if not loop.is_closed():
        loop.call_soon_threadsafe(_settle, stored, done)


def _settle(stored: Future[None], done: "asyncio.Future[None]") -> None:
    if done.done():
        return
    exception = stored.exception()
    if exception is not None:
        done.set_exception(exception)
    else:
        done.set_result(None)


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
