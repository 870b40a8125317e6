"""Assertions shared by the test modules."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple


def assert_problem(response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is RFC 9457 problem+json with this status (and stable code, when given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "code"} <= body.keys()
    if code is not None:
        assert body["code"] == code, body
    return body


def assert_oauth_error(response, status: int, error: str, code: str | None = None) -> dict[str, Any]:
    """The response is an OAuth2 token endpoint error (RFC 6749 §5.2) with this status and `error`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert body["error"] == error and body["error_description"], body
    if code is not None:
        assert body["code"] == code, body
    return body


def wait_until(predicate, timeout: float = 20, interval: float = 0.02):
    """Poll until predicate() is truthy (returning its value), or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(interval)


REPO = Path(__file__).resolve().parents[1]
HEP = str(Path(sys.executable).parent / "hep")


def start_worker(*options: str, log: Path | None = None) -> subprocess.Popen:
    """A real `hep worker` process on the test database; stop it by pid (stop_worker). Its output is
    captured as text in a pipe, which holds 64 KiB until read: a worker that may write more before it is
    stopped (a line for each webhook it sends) writes to the file `log` instead."""
    command = [HEP, "worker", *options]
    if log is None:
        return subprocess.Popen(
            command,
            cwd=REPO,
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    with log.open("w") as out:
        return subprocess.Popen(
            command, cwd=REPO, env=os.environ.copy(), stdout=out, stderr=subprocess.STDOUT
        )


def stop_worker(process: subprocess.Popen) -> str:
    """Stop a process from start_worker by its pid (SIGTERM, then SIGKILL after 20 s) unless it is gone
    already; returns its output (empty when it went to a file)."""
    import signal

    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output or ""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Served(NamedTuple):
    url: str  # the base URL
    process: subprocess.Popen


@contextmanager
def hep_serve(env: dict[str, str], log: Path, cwd: Path | None = None) -> Iterator[Served]:
    """`hep serve` (real uvicorn) on 127.0.0.1:$HEP_PORT until /healthz answers; yields its base URL and
    process, and stops it by its process id (SIGTERM, then SIGKILL after 20 s) unless it is gone already."""
    import signal

    import httpx

    hep = str(Path(sys.executable).parent / "hep")
    with log.open("w") as out:
        process = subprocess.Popen([hep, "serve"], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{env['HEP_PORT']}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "no /healthz within 60 s:\n" + log.read_text()
            time.sleep(0.1)
        yield Served(base, process)
    finally:
        process.send_signal(signal.SIGTERM)  # nothing if it has exited
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def listening(*listeners: tuple[Any, str, Any]) -> Iterator[None]:
    """SQLAlchemy event listeners, each (target, event name, function), for the block's duration."""
    from sqlalchemy import event

    for target, name, function in listeners:
        event.listen(target, name, function)
    try:
        yield
    finally:
        for target, name, function in listeners:
            event.remove(target, name, function)
