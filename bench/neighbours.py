"""`make bench-webhooks` (second part): one clinic's webhooks behind another clinic's backlog.

The noisy-neighbour case of the security audit (issue 19, F4): a quiet clinic commits 20 events, one per
transaction, to an endpoint on a verifying receiver on 127.0.0.1; the time is from the first commit to
the verified arrival of the last of them. Measured alone, then behind a noisy clinic's backlog of
`--backlog` deliveries (committed at once, a second before) to an endpoint that refuses connections, and
to one that accepts and never answers (each send waits the whole timeout). The real dispatcher (threads in
this process, as `hep serve` runs it, concurrency 20) delivers, with the production retry schedule and
timeout. Target: behind either backlog, the quiet clinic's 20 within 2× their time alone.

Prints one table and writes it to bench/results/<date>-neighbours-<database>.md (+ .json).

    python -m bench.neighbours --backlog 1000
"""

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from bench.generate import BENCH_DIR, bench_environment, database_url_for, stop_process
from bench.webhooks import SECRET_ENV, Receipts, _free_port, _setup

ROOT = BENCH_DIR.parent
NAME = "neighbours"
QUIET_EVENTS = 20
TARGET_RATIO = 2.0
QUIET_HOOK = "ehr-0"  # bench.webhooks._setup names its endpoints ehr-<n>
WAIT_SECONDS = 120  # a case whose events have not all arrived by then is reported as "> 120 s"


def _hanging_server() -> tuple[int, threading.Event]:
    """A server on 127.0.0.1 that accepts and reads, and never answers, until the returned event is set."""
    done = threading.Event()
    ready = threading.Event()
    port = _free_port()

    async def serve() -> None:
        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while not done.is_set() and await reader.read(65536):
                    pass
            except ConnectionError:
                pass
            await asyncio.sleep(0)

        server = await asyncio.start_server(hold, "127.0.0.1", port, backlog=2048)
        ready.set()
        async with server:
            await asyncio.Event().wait()  # serves until the process ends (a daemon thread)

    threading.Thread(target=lambda: asyncio.run(serve()), daemon=True).start()
    ready.wait(10)
    return port, done


def _refusing_port() -> int:
    """A port on 127.0.0.1 nothing listens on: every connection is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _noisy_endpoint(url: str) -> tuple[uuid.UUID, uuid.UUID]:
    """A new clinic with one endpoint at `url`: (clinic id, endpoint id)."""
    from sqlmodel import Session

    from app.config import get_settings
    from app.db import get_engine
    from app.models.common import Actor
    from app.models.webhook import WebhookEndpointCreate
    from app.services import clinics, webhook_endpoints

    with Session(get_engine(), expire_on_commit=False) as session:
        noisy = clinics.create_clinic(session, "Noisy clinic", f"noisy-{uuid.uuid4().hex[:6]}")
        actor = Actor(kind="system", id=uuid.UUID(int=0), clinic_id=noisy.id)
        endpoint = webhook_endpoints.create_endpoint(
            session, get_settings(), actor, WebhookEndpointCreate(url=url)
        )
        session.commit()
    return noisy.id, endpoint.id


def _emit(clinic_id: uuid.UUID, count: int, per_transaction: int) -> list[tuple[str, float]]:
    """`count` events, `per_transaction` to a commit; each id with the time its commit returned."""
    from sqlmodel import Session

    from app.db import get_engine
    from app.services import events

    committed = []
    for start in range(0, count, per_transaction):
        with Session(get_engine()) as session:
            ids = [
                str(events.emit(session, clinic_id, "patient.updated", {"patient_id": uuid.uuid4()}).id)
                for _ in range(min(per_transaction, count - start))
            ]
            session.commit()
        at = time.monotonic()
        committed.extend((event_id, at) for event_id in ids)
    return committed


def _drop(endpoint_id: uuid.UUID) -> None:
    """Delete a noisy endpoint and its deliveries (cascade), so the next case starts clean."""
    from sqlmodel import Session

    from app.db import get_engine
    from app.models.webhook import WebhookEndpoint

    with Session(get_engine()) as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        if endpoint is not None:
            session.delete(endpoint)
        session.commit()


def _case(label: str, receipts: Receipts, quiet_id: uuid.UUID, noisy_url: str | None, backlog: int) -> dict:
    """Start a dispatcher; commit the backlog (if any), wait a second, commit the quiet clinic's events;
    time them from the first commit to the last receipt."""
    from app.db import get_engine
    from app.dispatcher import Dispatcher

    noisy = _noisy_endpoint(noisy_url) if noisy_url else None
    dispatcher = Dispatcher(get_engine(), allow_private=True, concurrency=20, poll_interval=0.5)
    dispatcher.start()
    try:
        if noisy is not None:
            _emit(noisy[0], backlog, backlog)
            time.sleep(1.0)  # the dispatcher is busy with the backlog when the quiet clinic's events come
        committed = _emit(quiet_id, QUIET_EVENTS, 1)
        keys = {f"{QUIET_HOOK}/{event_id}" for event_id, _ in committed}
        complete = receipts.wait_for(keys, timeout=WAIT_SECONDS)
        with receipts.changed:
            last = max((receipts.first[key] for key in keys if key in receipts.first), default=0.0)
        seconds = last - committed[0][1] if complete else float(WAIT_SECONDS)
    finally:
        stopping = time.monotonic()
        dispatcher.stop()  # waits for the sends under way: up to one timeout behind a hanging receiver
        stop_seconds = time.monotonic() - stopping
        if noisy is not None:
            _drop(noisy[1])
    result = {"case": label, "backlog": backlog if noisy else 0, "complete": complete, "seconds": seconds}
    print(
        f"  {label:<26} quiet clinic's {QUIET_EVENTS}: {seconds * 1000:.0f} ms"
        f"{'' if complete else ' (not all arrived)'} "
        f"(dispatcher stopped in {stop_seconds:.1f} s)"
    )
    return result


def table(results: list[dict[str, Any]]) -> str:
    solo = min(r["seconds"] for r in results if r["backlog"] == 0)
    lines = [
        f"| case | another clinic's backlog | quiet clinic's {QUIET_EVENTS} events | × alone | target "
        "| met |",
        "|---|---:|---:|---:|---|:---:|",
    ]
    for r in results:
        ratio = f"{r['seconds'] / solo:.2f}" if r["complete"] else f"> {r['seconds'] / solo:.0f}"
        behind = r["backlog"] > 0
        met = r["complete"] and (r["seconds"] / solo <= TARGET_RATIO if behind else True)
        target = f"≤ {TARGET_RATIO:.0f}× alone" if behind else "—"
        took = f"{r['seconds'] * 1000:.0f} ms" if r["complete"] else f"> {WAIT_SECONDS} s (not all arrived)"
        lines.append(
            f"| {r['case']} | {r['backlog']:,} | {took} | {ratio} | {target} | {'yes' if met else '**no**'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="default: HEP_DATABASE_URL, else SQLite under bench/data")
    parser.add_argument("--backlog", type=int, default=1000, help="the noisy clinic's deliveries")
    args = parser.parse_args()

    if args.database_url:
        os.environ["HEP_DATABASE_URL"] = args.database_url
    url = database_url_for(NAME)
    os.environ.update(
        {**bench_environment(url), "HEP_WEBHOOK_ALLOW_PRIVATE": "1", "HEP_LOG_LEVEL": "WARNING"}
    )
    dialect = url.split(":")[0].split("+")[0]
    port = _free_port()
    quiet_id, secrets = _setup(url, 1, port)  # the quiet clinic, its one endpoint on the receiver
    print(f"noisy-neighbour bench on {dialect}: {QUIET_EVENTS} events behind {args.backlog} deliveries")

    receiver = subprocess.Popen(
        [sys.executable, "-m", "bench.webhooks", "--receiver", str(port)],
        cwd=ROOT,
        env={**os.environ, SECRET_ENV: json.dumps(secrets)},
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    hanging_port, release_hanging = _hanging_server()
    try:
        assert receiver.stdout is not None
        if receiver.stdout.readline().strip() != "ready":
            raise RuntimeError("the receiver did not start")
        receipts = Receipts()
        threading.Thread(target=receipts.read, args=(receiver.stdout,), daemon=True).start()
        _case("warm-up (not counted)", receipts, quiet_id, None, 0)  # first connections, imports
        refusing, hanging = f"http://127.0.0.1:{_refusing_port()}/", f"http://127.0.0.1:{hanging_port}/"
        results = [
            _case("alone", receipts, quiet_id, None, 0),
            _case("behind a refusing endpoint", receipts, quiet_id, refusing, args.backlog),
            _case("behind a hanging endpoint", receipts, quiet_id, hanging, args.backlog),
            _case("alone again", receipts, quiet_id, None, 0),
        ]
    finally:
        release_hanging.set()
        stop_process(receiver, timeout=30)

    rendered = table(results)
    print()
    print(rendered)
    today = datetime.now(UTC).date().isoformat()
    report = (
        f"# Noisy-neighbour webhook benchmark {today} on {dialect}\n\n"
        f"- one in-process dispatcher, concurrency 20, poll interval 0.5 s, production retry schedule and "
        f"15 s timeout; receiver: an asyncio server in its own process verifying every signature\n"
        f"- the quiet clinic commits {QUIET_EVENTS} events, one per transaction; time from its first commit "
        f"to the verified arrival of its last event\n"
        f"- backlog: {args.backlog:,} events of another clinic committed at once a second before, to an "
        f"endpoint refusing connections, or accepting and never answering\n"
        f"- machine: {os.cpu_count()} cores; nothing pinned, other work may share the cores\n\n"
        f"{rendered}\n"
    )
    out = BENCH_DIR / "results" / f"{today}-neighbours-{dialect}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    out.with_suffix(".json").write_text(json.dumps({"backlog": args.backlog, "results": results}, indent=1))
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
