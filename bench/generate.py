"""Generate a benchmark database: clinics, patients with an active programme, weeks of session logs.

One programme per shape is built through the services (so its revision snapshot is exactly what the API
writes); every patient then gets a clone of one of those programmes, inserted in bulk with SQLAlchemy Core
executemany. Writes bench/data/<name>/targets.json: tokens and ids the load generator picks from.

    python -m bench.generate --name small --clinics 1 --patients 100 --logs 1000
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / "data"
SECRET_KEY = "bench-secret-key-0123456789-0123456789-abcdef"
BATCH = 5000
SAMPLE_PATIENTS = 500  # patients whose tokens the load generator uses
# Generated data is reused across runs: its tokens must outlive the API's short lifetimes. They are signed
# with the bench's own key and only ever sent to the bench server on 127.0.0.1.
BENCH_TOKEN_LIFETIME = timedelta(days=30)

SIZES = {
    "small": {"clinics": 1, "patients": 100, "logs": 1_000},
    "medium": {"clinics": 20, "patients": 10_000, "logs": 1_000_000},
}

EXERCISES = [
    "double-leg-bridge",
    "cat-camel",
    "bird-dog",
    "dead-bug",
    "knee-plank",
    "prone-on-elbows",
    "posterior-pelvic-tilt",
    "single-knee-to-chest",
]
TIMEZONES = ["Europe/London", "Europe/Paris", "America/New_York", "Australia/Sydney", "UTC"]


def bench_environment(database_url: str) -> dict[str, str]:
    """The settings both the generator and the benchmarked server run with."""
    return {
        "HEP_DATABASE_URL": database_url,
        "HEP_SECRET_KEY": SECRET_KEY,
        "HEP_ENV": "dev",
        "HEP_DISPATCHER": "off",
        "HEP_ARGON2_PROFILE": "cheapest",
        "HEP_DEMO": "0",
    }


def stop_process(process: subprocess.Popen, timeout: float = 15) -> None:
    """Stop a process the benchmark started (by its pid): SIGTERM, then SIGKILL after `timeout`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def remove_bench_logs(url: str, performed_at: str) -> int:
    """Delete the session logs a benchmark run posted (all at its BENCH_PERFORMED_AT), so that the next
    endpoint and the next run read a patient's day as the generator left it, not hundreds of logs today."""
    from datetime import datetime

    from sqlalchemy import create_engine, delete

    from app.models.session_log import SessionLog

    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            when = datetime.fromisoformat(performed_at)
            table = SessionLog.__table__  # type: ignore[attr-defined]
            result = connection.execute(delete(table).where(table.c.performed_at == when))
            return result.rowcount
    finally:
        engine.dispose()


def data_dir(name: str) -> Path:
    """bench/data/<name> on SQLite, bench/data/<name>-postgresql on PostgreSQL: the targets differ."""
    base = os.environ.get("HEP_DATABASE_URL")
    return DATA_DIR / (name if not base or base.startswith("sqlite") else f"{name}-postgresql")


def database_url_for(name: str) -> str:
    """SQLite file under bench/data by default; a fresh database next to HEP_DATABASE_URL on PostgreSQL."""
    base = os.environ.get("HEP_DATABASE_URL")
    if not base or base.startswith("sqlite"):
        return f"sqlite:///{data_dir(name) / 'bench.db'}"
    from sqlalchemy.engine import make_url

    return make_url(base).set(database=f"hep_bench_{name}").render_as_string(hide_password=False)


def progress(label: str, done: int, total: int, started: float) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    rate = done / max(time.perf_counter() - started, 1e-9)
    sys.stderr.write(
        f"\r  {label:<10} [{'#' * filled}{'.' * (width - filled)}] {done:>9,}/{total:,} {rate:,.0f}/s"
    )
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _recreate(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def _rows(connection, table, column, value) -> list[dict[str, Any]]:
    from sqlalchemy import select

    return [dict(row._mapping) for row in connection.execute(select(table).where(table.c[column] == value))]


def _insert(connection, table, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(table.insert(), rows)


def generate(name: str, clinics: int, patients: int, logs: int, seed: int = 1) -> dict[str, Any]:
    url = database_url_for(name)
    for key, value in bench_environment(url).items():
        os.environ[key] = value
    from sqlmodel import Session

    from alembic import command
    from app.db import make_engine, metadata
    from app.models.catalogue_files import load_catalogue
    from app.models.common import Actor
    from app.models.patient import PatientCreate
    from app.models.programme_document import ItemDocument, PhaseDocument, ProgrammeCreate
    from app.models.session_log import SessionLogCreate
    from app.security import create_access_token
    from app.services import catalogue, programmes, users
    from app.services import clinics as clinic_service
    from app.services import patients as patient_service
    from app.services.health import alembic_config
    from app.services.patient_app import etag
    from app.services.sessions import body_hash

    rng = random.Random(seed)
    started_all = time.perf_counter()
    print(f"generating {name}: {clinics} clinics, {patients:,} patients, {logs:,} session logs -> {url}")
    _recreate(url)
    config = alembic_config(url)
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")
    engine = make_engine(url)
    tables = metadata.tables

    # Clinics, one physio each, and one programme shape per item count (4-6), built by the services.
    start_date = date.today() - timedelta(weeks=8)
    with Session(engine, expire_on_commit=False) as session:
        catalogue.seed_catalogue(session, load_catalogue())
        clinic_rows, physios, shapes = [], [], {}
        for index in range(clinics):
            clinic = clinic_service.create_clinic(
                session, f"Bench clinic {index}", f"bench-{index}-{uuid.uuid4().hex[:6]}"
            )
            physio = users.create_user(
                session,
                clinic.id,
                f"physio-{index}-{uuid.uuid4().hex[:6]}@example.org",
                "Physio",
                "physio",
                "x" * 12,
            )
            clinic_rows.append(clinic)
            physios.append(physio)
        system = Actor(kind="system", id=uuid.UUID(int=0), clinic_id=clinic_rows[0].id)
        for n_items in (4, 5, 6):
            model = patient_service.create_patient(
                session,
                system,
                PatientCreate(display_name=f"Model {n_items}", external_id=f"MODEL-{n_items}"),
            )
            items = [
                ItemDocument(
                    exercise=EXERCISES[i],
                    sets=2,
                    reps=10,
                    times_per_day=1 + i % 2,
                    days_of_week=[1, 2, 3, 4, 5],
                )
                for i in range(n_items)
            ]
            data = ProgrammeCreate(
                title="Back plan", start_date=start_date, phases=[PhaseDocument(name="One", items=items)]
            )
            programme = programmes.create_programme(session, system, model, data)
            programmes.transition(session, system, programme, "activate", None)
            shapes[n_items] = (model.id, programme.id)
        session.commit()

    # Clone patients and programmes in bulk.
    started = time.perf_counter()
    patient_table, programme_table = tables["patient"], tables["programme"]
    phase_table, item_table, revision_table = (
        tables["programme_phase"],
        tables["programme_item"],
        tables["programme_revision"],
    )
    log_table = tables["session_log"]
    targets: list[dict[str, Any]] = []
    schedule: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, list[uuid.UUID], int, str]] = []
    with engine.begin() as connection:
        models = {}
        for n_items, (model_patient, model_programme) in shapes.items():
            models[n_items] = {
                "patient": _rows(connection, patient_table, "id", model_patient)[0],
                "programme": _rows(connection, programme_table, "id", model_programme)[0],
                "phases": _rows(connection, phase_table, "programme_id", model_programme),
                "items": _rows(connection, item_table, "programme_id", model_programme),
                "revisions": _rows(connection, revision_table, "programme_id", model_programme),
            }
        batches: dict[str, list[dict[str, Any]]] = {
            key: [] for key in ("patient", "programme", "phase", "item", "revision")
        }

        def flush() -> None:
            for key, table in (
                ("patient", patient_table),
                ("programme", programme_table),
                ("phase", phase_table),
                ("item", item_table),
                ("revision", revision_table),
            ):
                _insert(connection, table, batches[key])
                batches[key] = []

        for index in range(patients):
            clinic = clinic_rows[index % clinics]
            model = models[4 + index % 3]
            ids = {model["patient"]["id"]: uuid.uuid4(), model["programme"]["id"]: uuid.uuid4()}
            ids[model["programme"]["clinic_id"]] = clinic.id
            for item in model["items"]:
                ids[item["id"]] = uuid.uuid4()
            timezone = TIMEZONES[index % len(TIMEZONES)]
            new_patient = {**model["patient"], "id": ids[model["patient"]["id"]], "clinic_id": clinic.id}
            new_patient.update(
                external_id=f"BENCH-{index:07d}", display_name=f"Patient {index}", timezone=timezone
            )
            batches["patient"].append(new_patient)
            programme_id = ids[model["programme"]["id"]]
            batches["programme"].append(
                {
                    **model["programme"],
                    "id": programme_id,
                    "clinic_id": clinic.id,
                    "patient_id": new_patient["id"],
                }
            )
            for phase in model["phases"]:
                batches["phase"].append({**phase, "programme_id": programme_id, "clinic_id": clinic.id})
            for item in model["items"]:
                batches["item"].append(
                    {**item, "id": ids[item["id"]], "programme_id": programme_id, "clinic_id": clinic.id}
                )
            for revision in model["revisions"]:
                text = json.dumps(revision["snapshot"])
                for old, new in ids.items():
                    text = text.replace(str(old), str(new))
                batches["revision"].append(
                    {
                        **revision,
                        "id": uuid.uuid4(),
                        "programme_id": programme_id,
                        "clinic_id": clinic.id,
                        "snapshot": json.loads(text),
                    }
                )
            item_ids = [ids[item["id"]] for item in sorted(model["items"], key=lambda row: row["position"])]
            revision_number = model["programme"]["revision"]
            schedule.append((clinic.id, new_patient["id"], programme_id, item_ids, revision_number, timezone))
            if index < SAMPLE_PATIENTS:
                physio = physios[index % clinics]
                targets.append(
                    {
                        "patient_id": str(new_patient["id"]),
                        "programme_id": str(programme_id),
                        "item_id": str(item_ids[0]),
                        "revision": revision_number,
                        "etag": etag(revision_number, new_patient["locale"]),
                        "patient_token": create_access_token(
                            SECRET_KEY,
                            kind="patient",
                            subject=new_patient["id"],
                            clinic_id=clinic.id,
                            lifetime=BENCH_TOKEN_LIFETIME,
                        ),
                        "physio_token": create_access_token(
                            SECRET_KEY,
                            kind="staff",
                            subject=physio.id,
                            clinic_id=clinic.id,
                            role="physio",
                            lifetime=BENCH_TOKEN_LIFETIME,
                        ),
                    }
                )
            if len(batches["patient"]) >= BATCH // 10:
                flush()
                progress("patients", index + 1, patients, started)
        flush()
        progress("patients", patients, patients, started)

    # Session logs spread over the last eight weeks, 1-2 a day on most days, on the patients' items.
    started = time.perf_counter()
    now = datetime.now(UTC)
    template = SessionLogCreate(
        id=uuid.uuid4(),
        programme_id=uuid.uuid4(),
        item_id=uuid.uuid4(),
        revision=1,
        performed_at=now,
        sets_done=2,
        reps_done=[10, 10],
        pain_during=2,
        pain_after=1,
        leg_symptoms="none",
        response="same",
    )
    digest = body_hash(template)
    per_patient, remainder = divmod(logs, patients)
    written = 0
    with engine.begin() as connection:
        batch: list[dict[str, Any]] = []
        for index, (clinic_id, patient_id, programme_id, item_ids, revision, _tz) in enumerate(schedule):
            count = per_patient + (1 if index < remainder else 0)
            for n in range(count):
                performed_at = now - timedelta(minutes=rng.randint(60, 8 * 7 * 24 * 60))
                batch.append(
                    {
                        "id": uuid.uuid4(),
                        "clinic_id": clinic_id,
                        "patient_id": patient_id,
                        "programme_id": programme_id,
                        "item_id": item_ids[n % len(item_ids)],
                        "revision": revision,
                        "performed_at": performed_at,
                        "utc_offset_minutes": 0,
                        "local_date": performed_at.date(),
                        "sets_done": 2,
                        "reps_done": [10, 10],
                        "pain_during": rng.choice((1, 2, 2, 3, 4)),
                        "pain_after": 1,
                        "leg_symptoms": "none",
                        "response": rng.choice(("same", "same", "better")),
                        "new_numbness_or_weakness": False,
                        "colour": "yellow",
                        "body_hash": digest,
                        "received_at": performed_at,
                    }
                )
                if len(batch) >= BATCH:
                    _insert(connection, log_table, batch)
                    written += len(batch)
                    batch = []
                    progress("logs", written, logs, started)
        _insert(connection, log_table, batch)
        written += len(batch)
        progress("logs", written, logs, started)
    log_seconds = time.perf_counter() - started
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")
    engine.dispose()

    meta = {
        "name": name,
        "database_url": url.split("@")[-1],
        "dialect": url.split(":")[0],
        "clinics": clinics,
        "patients": patients,
        "logs": written,
        "log_rows_per_second": round(written / log_seconds) if log_seconds else None,
        "generation_seconds": round(time.perf_counter() - started_all, 1),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    out = data_dir(name)
    out.mkdir(parents=True, exist_ok=True)
    (out / "targets.json").write_text(json.dumps({"meta": meta, "database_url": url, "targets": targets}))
    print(f"generated in {meta['generation_seconds']} s ({meta['log_rows_per_second']:,} log rows/s)")
    return meta


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--name", default="small", help="small, medium, or a name for a custom size")
    parser.add_argument("--clinics", type=int)
    parser.add_argument("--patients", type=int)
    parser.add_argument("--logs", type=int)
    args = parser.parse_args()
    size = dict(SIZES.get(args.name, {}))
    for key in ("clinics", "patients", "logs"):
        if getattr(args, key) is not None:
            size[key] = getattr(args, key)
    if set(size) != {"clinics", "patients", "logs"}:
        parser.error("a custom size needs --clinics, --patients and --logs")
    generate(args.name, **size)


if __name__ == "__main__":
    main()
