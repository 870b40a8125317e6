"""Where a patient request's CPU goes: the framework's floor, the rules alone, and the API, in-process.

The ratio targets compare the API with a bare FastAPI route that answers from memory. This measures, in
the same process on the same data, in turns (the least of three runs each):
- the 304 of a programme read (the cheapest patient read: every rule, no body) through the bare app, the
  floor (an async FastAPI route behind the API's request middleware answering it from memory), the rules
  alone (one async route that checks the token, checks the patient and looks the programme up with the
  API's own statement on the loop's read connection, and stores its audit row through the group commit,
  waiting for the commit or not; no dependencies, no unit of work, one router) and the API;
- the bare app's plan: the plan's rules include all of the 304's, so `bare plan / rules alone` bounds
  the plan's ratio from above;
- the session log through the bare app, the write unit alone (the API's own write path, body validated,
  patient checked, one row inserted and committed, none of the log's rules) and the API.

`bare / rules alone` is the best ratio these rules allow on this framework whatever the API's
architecture; the API's distance from it is what its architecture costs. Each rule's cost on its own (a
tight loop, a full group-commit batch) is listed too: run inside concurrent requests the same rules cost
about twice their sum (colder caches, smaller batches, the writer thread's hand-overs).

Run by `bench.run` in a process of its own, after bench.cpu; prints JSON {part: microseconds}. The
routes here never wait for anything but the database, so the in-process figures of async routes leave out
the turns of the event loop a server's network I/O adds to every request (wrk measures those).

    python -m bench.budget --targets bench/data/small/targets.json
"""

import argparse
import asyncio
import json
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.cpu import _load

AUDIT_BATCH = 32
ROUNDS = 3


def _per_call(work: Callable[[], Any], calls: int = 5000) -> float:
    """CPU microseconds per call, after a warm-up."""
    for _ in range(calls // 10):
        work()
    started = time.process_time()
    for _ in range(calls):
        work()
    return (time.process_time() - started) * 1e6 / calls


def _floor_app(etag: str) -> Any:
    """An async route answering the 304 from memory behind the API's own request middleware."""
    from fastapi import FastAPI, Header, Response

    app = FastAPI()

    @app.get("/v1/me/programmes/{programme_id}")
    async def programme(programme_id: uuid.UUID, if_none_match: str | None = Header(None)) -> Response:
        return Response(status_code=304, headers={"ETag": etag})

    return _behind_middleware(app)


def _behind_middleware(app: Any) -> Any:
    """The app behind the API's own request middleware, with the API's settings."""
    from app.config import get_settings
    from app.middleware import RequestContextMiddleware

    settings = get_settings()
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_sign_in_body_bytes=settings.max_sign_in_body_bytes,
    )
    return app


def _audit_row(clinic_id: uuid.UUID, patient_id: uuid.UUID, resource_id: Any, request_id: Any) -> dict:
    """A patient's programme-read audit row, as app.services.audit.record builds it."""
    from app.db import utcnow
    from app.models.common import new_id

    return {
        "id": new_id(),
        "clinic_id": clinic_id,
        "actor_kind": "patient",
        "actor_id": patient_id,
        "action": "programme.read",
        "resource_type": "programme",
        "resource_id": resource_id,
        "patient_id": patient_id,
        "request_id": request_id,
        "detail": None,
        "occurred_at": utcnow(),
    }


def _rules_app(wait: bool = True) -> Any:
    """Every rule of the 304 and nothing else: an async route behind the API's middleware that checks the
    token, checks the patient and looks the programme up on the loop's read connection (the API's own
    statement and connection), and waits for its audit row's group commit (`wait`, as HEP_AUDIT_WAIT=1;
    else it hands the row over and answers, and the measurement counts the writer's commits of the rows
    left queued); no dependencies beyond the parameters, no unit of work, one router. A measurement of
    the ceiling, not a second path: the API does not use it."""
    from fastapi import FastAPI, Header, Request, Response

    from app import store
    from app.config import get_settings
    from app.db import get_engine
    from app.errors import Unauthorized
    from app.group_commit import writer_for
    from app.models.catalogue_files import DEFAULT_LOCALE
    from app.services import auth, conditional, patient_app
    from app.unit_of_work import loop_connection

    settings = get_settings()
    engine = get_engine()
    writer = writer_for(engine)
    app = FastAPI()

    @app.get("/v1/me/programmes/{programme_id}")
    async def programme(
        programme_id: uuid.UUID, request: Request, if_none_match: str | None = Header(None)
    ) -> Response:
        claims = auth.patient_claims(settings, request.headers["authorization"].partition(" ")[2])
        assert claims is not None
        patient_id, clinic_id, generation = claims
        connection = loop_connection(engine)  # an async route: always on the loop, which has one
        assert connection is not None
        patient, row, _ = store.caller_and_programme(connection, patient_id, programme_id)
        if patient is None or patient.clinic_id != clinic_id or patient.session_generation != generation:
            raise Unauthorized("The patient no longer exists.")
        assert row is not None
        tag = patient_app.etag(row.revision, patient.locale or DEFAULT_LOCALE)
        stored = writer.store([(store.AUDIT_TABLE, _audit_row(clinic_id, patient_id, row.id, None))])
        if wait:
            await stored
        assert conditional.none_match(if_none_match, tag)
        return Response(status_code=304, headers={"ETag": tag})

    return _behind_middleware(app)


def _write_unit_app() -> Any:
    """The floor of any stored write, for the session log: the API's own write path (its route class, one
    hop, the unit of work that commits once) with the log's body validated by its own model, the patient
    checked, one row inserted (an audit row, in place of the log's) and committed; none of the log's rules.
    A measurement of what every write costs before its own work, not a second path."""
    from fastapi import APIRouter, FastAPI, Response

    from app.config import get_settings
    from app.deps import PatientActor, SessionDep
    from app.models.session_log import SessionLogCreate
    from app.routing import UnitOfWorkRoute, WriteSlots
    from app.services import audit

    router = APIRouter(route_class=UnitOfWorkRoute)

    @router.post("/v1/me/sessions", status_code=201)
    def log(body: SessionLogCreate, session: SessionDep, actor: PatientActor) -> Response:
        audit.record(session, actor, "session.logged", "session_log", body.id, actor.id)
        return Response(b"{}", status_code=201, media_type="application/json")

    app = FastAPI()
    app.include_router(router)
    app.state.write_slots = WriteSlots(get_settings().concurrent_requests)  # as create_app sets them
    return _behind_middleware(app)


async def _audit_row_cost(rows: int) -> float:
    """CPU microseconds per audit row stored through the group commit, AUDIT_BATCH rows per batch (the
    batch the API gathers at 32 connections), both threads counted; the rows are deleted afterwards."""
    from sqlalchemy import delete

    from app import store
    from app.db import get_engine
    from app.group_commit import writer_for

    engine = get_engine()
    with engine.connect() as connection:
        clinic_id, patient_id = connection.exec_driver_sql("SELECT clinic_id, id FROM patient LIMIT 1").one()
    clinic_id, patient_id = uuid.UUID(str(clinic_id)), uuid.UUID(str(patient_id))
    marker = f"bench-budget-{uuid.uuid4().hex[:12]}"
    writer = writer_for(engine)

    async def batches(count: int) -> None:
        for _ in range(count):
            await asyncio.gather(
                *(
                    writer.store([(store.AUDIT_TABLE, _audit_row(clinic_id, patient_id, None, marker))])
                    for _ in range(AUDIT_BATCH)
                )
            )

    await batches(10)
    started = time.process_time()
    await batches(rows // AUDIT_BATCH)
    used = time.process_time() - started
    with engine.begin() as connection:
        connection.execute(delete(store.AUDIT_TABLE).where(store.AUDIT_TABLE.c.request_id == marker))
    return used * 1e6 / (rows // AUDIT_BATCH * AUDIT_BATCH)


async def measure(targets: list[dict[str, Any]], requests: int, concurrency: int) -> dict[str, float]:
    from app import store
    from app.config import get_settings
    from app.db import get_engine, read_engine
    from app.group_commit import close_all, writer_for
    from app.main import create_app
    from app.services import auth
    from bench.bare_app import create_app as create_bare_app
    from bench.cpu import _lifespan, _stop

    target = targets[0]
    performed_at = os.environ["BENCH_PERFORMED_AT"]
    api = create_app()
    lifespan = await _lifespan(api)
    bare = create_bare_app()
    # (part, app, endpoint, requests): the 304 through the bare app, the floor, the rules alone (waiting
    # for the audit commit and not) and the API; the bare app's plan, whose rules include all of the
    # 304's; the session log through the bare app, the write unit alone and the API.
    parts_measured = [
        ("bare", bare, "programme_304", requests),
        ("floor", _floor_app(target["etag"]), "programme_304", requests),
        ("rules_only", _rules_app(), "programme_304", requests),
        ("rules_unwaited", _rules_app(wait=False), "programme_304", requests),
        ("api", api, "programme_304", requests),
        ("plan_bare", bare, "plan", requests),
        ("log_bare", bare, "log", requests // 2),
        ("log_write_unit", _write_unit_app(), "log", requests // 2),
        ("log_api", api, "log", requests // 2),
    ]
    # Every run's clock stops once the audit rows queued during it are committed (bench.cpu._load), so
    # that a route which does not wait for them is charged for them too.
    settle = writer_for(get_engine()).store
    # In turns, ROUNDS times, the least of each: they share the machine's ups and downs, and the least is
    # the run least disturbed by anything else.
    runs: dict[str, list[float]] = {name: [] for name, *_ in parts_measured}
    for _, app, endpoint, count in parts_measured:
        await _load(app, endpoint, targets, performed_at, max(count // 5, 50), concurrency, settle)
    for _ in range(ROUNDS):
        for name, app, endpoint, count in parts_measured:
            used = await _load(app, endpoint, targets, performed_at, count, concurrency, settle)
            runs[name].append(used * 1000)
    await _stop(lifespan)
    parts = {name: min(values) for name, values in runs.items()}

    settings, token = get_settings(), target["patient_token"]
    patient_id, clinic_id, _ = auth.patient_claims(settings, token) or (None, None, 0)
    assert patient_id is not None and clinic_id is not None, "the benchmark's token is a patient token"
    programme_id = uuid.UUID(target["programme_id"])
    reads = read_engine(get_engine())
    parts["token"] = _per_call(lambda: auth.patient_claims(settings, token))
    parts["connection"] = _per_call(lambda: reads.connect().close())
    with reads.connect() as connection:
        parts["patient_check"] = _per_call(lambda: store.patient_row(connection, patient_id))
        parts["caller_and_programme"] = _per_call(
            lambda: store.caller_and_programme(connection, patient_id, programme_id)
        )
    try:
        parts["audit_row"] = await _audit_row_cost(AUDIT_BATCH * 100)
    finally:
        close_all()
    return {name: round(value, 1) for name, value in parts.items()}


RULES = ("token", "connection", "patient_check", "caller_and_programme", "audit_row")
LABELS = {
    "floor": "an async FastAPI route behind the API's middleware, answering the same 304 from memory",
    "rules_only": "the rules alone in one async route: token, patient check, programme lookup, audit row "
    "through the group commit (no dependencies, no unit of work, one router)",
    "rules_unwaited": "the same rules alone, answering before the audit row's commit (HEP_AUDIT_WAIT=0; "
    "the writer's commits of the rows left queued are counted)",
    "token": "the token's signature and claims",
    "connection": "a read connection from the pool and back (a read no longer pays it: the loop keeps one)",
    "patient_check": "the patient check alone (one statement), for comparison",
    "caller_and_programme": "the patient check and the programme lookup (one statement)",
    "audit_row": f"the audit row: its share of a {AUDIT_BATCH}-row group commit, both threads",
    "plan_bound": "the plan at best: its rules include all of the 304's, so it costs at least the rules "
    "alone (waiting for the audit commit)",
    "plan_bound_unwaited": "the plan at best, answering before the audit row's commit (HEP_AUDIT_WAIT=0)",
    "log_write_unit": "the write unit alone: the log's body validated, the patient checked, one row "
    "inserted and committed in the API's own unit of work (none of the log's rules)",
}


def budget_table(budget: dict[str, float]) -> str:
    """The 304's CPU: the framework's floor, the rules alone in a minimal route (waiting for the audit
    commit and not), the API, and each rule's cost on its own (in a tight loop: warm caches, a full
    group-commit batch) for reference; then the bounds these set on the plan and the session log."""
    api_us, bare_us = budget["api"], budget["bare"]

    def row(label: str, us: float, base: float = bare_us, bold: bool = False) -> str:
        cells = (label, f"{us:.1f}", f"{base / us:.2f}")
        return "| " + " | ".join(f"**{c}**" if bold else c for c in cells) + " |"

    lines = [
        "| a 304 of GET /v1/me/programmes/{id}, in-process | CPU µs | ratio to bare |",
        "|---|---:|---:|",
        f"| the bare app's route (the baseline: a `def` route, one thread hop) | {bare_us:.1f} | 1.00 |",
        row(LABELS["floor"], budget["floor"]),
        row(LABELS["rules_only"], budget["rules_only"]),
        row(LABELS["rules_unwaited"], budget["rules_unwaited"]),
        row(
            f"the API's 304 (dependencies, unit of work, routing: {api_us - budget['rules_only']:+.1f} µs "
            "over the rules alone)",
            api_us,
            bold=True,
        ),
    ]
    lines += [f"| each rule on its own: {LABELS[name]} | {budget[name]:.1f} | |" for name in RULES]
    lines += [
        "",
        "| the bounds these set, in-process | CPU µs | ratio to bare |",
        "|---|---:|---:|",
        f"| the bare app's plan | {budget['plan_bare']:.1f} | 1.00 |",
        row(LABELS["plan_bound"], budget["rules_only"], budget["plan_bare"]),
        row(LABELS["plan_bound_unwaited"], budget["rules_unwaited"], budget["plan_bare"]),
        f"| the bare app's session log | {budget['log_bare']:.1f} | 1.00 |",
        row(LABELS["log_write_unit"], budget["log_write_unit"], budget["log_bare"]),
        row("the API's session log", budget["log_api"], budget["log_bare"], bold=True),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", required=True)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with open(args.targets) as file:
        targets = json.load(file)["targets"]
    print(json.dumps(asyncio.run(measure(targets, args.requests, args.concurrency))))


if __name__ == "__main__":
    main()
