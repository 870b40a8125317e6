"""CPU per request, in-process: the API's ASGI app and the bare app driven directly, no HTTP server, no wrk.

Process CPU time (every thread: the event loop, the thread pool, the audit writer) divided by the requests
answered, with `--concurrency` requests in flight as wrk keeps them. The steadiest measure on a shared
machine: other processes' load changes wall time, not this process's CPU seconds. Run by `bench.run` in a
process of its own with the benchmark's settings; prints JSON {endpoint: {api_ms, bare_ms, ratio}}.

    python -m bench.cpu --targets bench/data/small/targets.json --bare bench/data/small/bare_responses.json
"""

import argparse
import asyncio
import json
import os
import random
import time
import uuid
from typing import Any

ENDPOINTS = ("plan", "programme", "programme_304", "log")
_OK = {200, 201, 304}


def _request(endpoint: str, target: dict[str, Any], performed_at: str) -> tuple[str, str, dict, bytes]:
    headers = {"authorization": f"Bearer {target['patient_token']}"}
    if endpoint == "plan":
        return "GET", "/v1/me/plan", headers, b""
    if endpoint in ("programme", "programme_304"):
        if endpoint == "programme_304":
            headers["if-none-match"] = target["etag"]
        return "GET", f"/v1/me/programmes/{target['programme_id']}", headers, b""
    headers["content-type"] = "application/json"
    return "POST", "/v1/me/sessions", headers, log_body(target, performed_at)


def log_body(target: dict[str, Any], performed_at: str) -> bytes:
    """One session log of a benchmark patient (a new id each time), as the patient app posts it."""
    body = {
        "id": str(uuid.uuid4()),
        "programme_id": target["programme_id"],
        "item_id": target["item_id"],
        "revision": target["revision"],
        "performed_at": performed_at,
        "sets_done": 2,
        "reps_done": [10, 10],
        "pain_during": 2,
        "pain_after": 1,
        "leg_symptoms": "none",
        "response": "same",
    }
    return json.dumps(body).encode()


async def _call(app: Any, method: str, path: str, headers: dict[str, str], body: bytes) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()]
        + [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _load(
    app: Any,
    endpoint: str,
    targets: list[dict[str, Any]],
    performed_at: str,
    requests: int,
    concurrency: int,
    settle: Any = None,
) -> float:
    """CPU milliseconds per answered request. `settle`: the audit writer's `store`, given no rows and
    awaited before the clock stops (it is settled after every batch queued before it), so that the
    commits of the audit rows that reads left queued without waiting for them are counted."""
    rng = random.Random(1)
    pending = iter(range(requests))
    failures: list[int] = []

    async def worker() -> None:
        for _ in pending:
            status = await _call(app, *_request(endpoint, rng.choice(targets), performed_at))
            if status not in _OK:
                failures.append(status)

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if settle is not None:
        await settle([])
    used = time.process_time() - started
    if failures:
        raise RuntimeError(f"{endpoint}: {len(failures)} requests failed, e.g. status {failures[0]}")
    return used * 1000 / requests


async def _lifespan(app: Any) -> tuple[asyncio.Task, asyncio.Queue, asyncio.Queue]:
    """Start the app's lifespan (the API starts its audit writer there); returns what stops it."""
    inbox: asyncio.Queue = asyncio.Queue()
    outbox: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    message = await outbox.get()
    if message["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"lifespan startup failed: {message}")
    return task, inbox, outbox


async def _stop(lifespan: tuple[asyncio.Task, asyncio.Queue, asyncio.Queue]) -> None:
    task, inbox, outbox = lifespan
    await inbox.put({"type": "lifespan.shutdown"})
    await outbox.get()
    await task


async def measure(
    targets: list[dict[str, Any]], requests: int, concurrency: int, endpoints: list[str]
) -> dict[str, dict[str, float]]:
    from app.db import get_engine
    from app.main import create_app
    from bench.bare_app import create_app as create_bare_app

    try:
        from app.group_commit import close_all, writer_for
    except ImportError:  # an earlier checkout measured with --before: no group commit there
        close_all, writer_for = (lambda: None), None

    performed_at = os.environ["BENCH_PERFORMED_AT"]
    results: dict[str, dict[str, float]] = {}
    for name, factory in (("api", create_app), ("bare", create_bare_app)):
        app = factory()
        lifespan = await _lifespan(app)
        try:
            for endpoint in endpoints:
                writer = (
                    writer_for(app.state.engine or get_engine()) if name == "api" and writer_for else None
                )
                # Reads that do not wait for their audit commit (HEP_AUDIT_WAIT=0) leave rows queued when
                # the last answer is sent: the clock runs until the writer has committed them (an empty
                # store is settled after every batch queued before it).
                settle = writer.store if writer is not None else None
                # A warm-up pass (caches, pools, the first statement's compilation), then the measured one.
                await _load(app, endpoint, targets, performed_at, max(requests // 5, 50), concurrency, settle)
                before = (writer.batches, writer.rows) if writer else (0, 0)
                per_request = await _load(app, endpoint, targets, performed_at, requests, concurrency, settle)
                row = results.setdefault(endpoint, {})
                row[f"{name}_ms"] = round(per_request, 4)
                if writer is not None and writer.rows > before[1]:
                    commits = sorted(writer.commit_seconds)
                    row["reads_per_commit"] = round(
                        (writer.rows - before[1]) / (writer.batches - before[0]), 1
                    )
                    row["commit_p99_ms"] = round(commits[int(len(commits) * 0.99) - 1] * 1000, 2)
                    row["commit_max_ms"] = round(commits[-1] * 1000, 2)
        finally:
            await _stop(lifespan)
            close_all()
    for row in results.values():
        row["ratio"] = round(row["bare_ms"] / row["api_ms"], 3)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", required=True)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--only", help="comma-separated endpoints: " + ", ".join(ENDPOINTS))
    args = parser.parse_args()
    with open(args.targets) as file:
        targets = json.load(file)["targets"]
    endpoints = args.only.split(",") if args.only else list(ENDPOINTS)
    print(json.dumps(asyncio.run(measure(targets, args.requests, args.concurrency, endpoints))))


if __name__ == "__main__":
    main()
