"""Hard deadlines for webhook sends: one timer thread that cuts a send off when its time is up, whatever
the HTTP client is doing (httpx's own timeouts apply per read, not to the whole attempt)."""

import contextlib
import heapq
import logging
import socket
import threading
import time

logger = logging.getLogger("hep.webhooks")


class Deadline:
    """Ends an attempt when the whole of it has taken its time (see Deadlines)."""

    __slots__ = ("at", "expired", "_sockets", "_lock")

    def __init__(self, at: float) -> None:
        self.at = at
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def __lt__(self, other: "Deadline") -> bool:
        return self.at < other.at

    def trace(self, event: str, info: dict) -> None:
        # httpx's "trace" request extension: keep the connection's socket (TCP, then the TLS one over it).
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            sock = info["return_value"].get_extra_info("socket")
            with self._lock:
                if sock is not None:
                    self._sockets.append(sock)
                expired = self.expired
            if expired:
                self._shut()

    def expire(self) -> None:
        with self._lock:
            self.expired = True
        self._shut()

    def _shut(self) -> None:
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed: the attempt is over anyway
                # The plain socket method, also on a TLS socket: shut the connection, not the TLS state.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def cancel(self) -> None:
        with self._lock:
            self._sockets.clear()


class Deadlines:
    """Ends every attempt that has taken `seconds` in all, from one thread.

    httpx's timeouts bound each socket operation, so a receiver that sends a byte now and then (a status
    line a character at a time) would hold a sending slot for ever. At its deadline this shuts the
    attempt's socket down, which makes the read under way fail at once. (One thread for all attempts: a
    timer thread for each would cost more than the send.)
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._queue: list[Deadline] = []  # a heap, soonest first
        self._changed = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="webhook-deadlines", daemon=True)
        self._thread.start()

    def start(self) -> Deadline:
        deadline = Deadline(time.monotonic() + self.seconds)
        with self._changed:
            heapq.heappush(self._queue, deadline)
            if self._queue[0] is deadline:
                self._changed.notify()
        return deadline

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._stopped and (not self._queue or self._queue[0].at > time.monotonic()):
                    self._changed.wait(self._queue[0].at - time.monotonic() if self._queue else None)
                if self._stopped:
                    return
                due = heapq.heappop(self._queue)
            due.expire()  # a no-op for an attempt that has finished (cancelled: it holds no sockets)

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify()
        self._thread.join()
