"""Periodic jobs without cron: once per period per clinic by a lease in the database, a lapsed lease taken
over, a runner that lost its lease storing nothing; on PostgreSQL, real `hep worker` processes."""

import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from app.db import get_engine
from app.models.jobs import JobRun
from app.models.webhook import Event
from app.scheduler import Scheduler
from app.services import events, jobs
from tests.helpers import REPO, start_worker, wait_until
from tests.logging_helpers import active_programme

JOB_NAMES = {job.name for job in jobs.JOBS}
NOON = datetime(2030, 6, 10, 12, 0, tzinfo=UTC)
BEFORE_START = datetime(2026, 11, 1, 8, tzinfo=UTC)


def _runs(clinic_id) -> list[JobRun]:
    with Session(get_engine()) as session:
        return list(session.exec(select(JobRun).where(JobRun.clinic_id == clinic_id).order_by(JobRun.period)))


def _events(clinic_id, type: str) -> list[Event]:
    with Session(get_engine()) as session:
        return list(session.exec(select(Event).where(Event.clinic_id == clinic_id, Event.type == type)))


def test_each_job_runs_once_per_period_per_clinic(world):
    clinics = [world.a.clinic.id, world.b.clinic.id]
    first, second = Scheduler(get_engine()), Scheduler(get_engine())
    ran = first.run_due(NOON, clinics)
    assert sorted((r.clinic_id, r.job) for r in ran) == sorted((c, j) for c in clinics for j in JOB_NAMES)
    assert second.run_due(NOON + timedelta(minutes=5), clinics) == []  # the same periods: nothing to do
    assert first.run_due(NOON + timedelta(minutes=10), clinics) == []
    # A new quarter of an hour: only the quarter-hourly job; a new day: all of them again.
    assert {r.job for r in second.run_due(NOON + timedelta(minutes=15), clinics)} == {"missed_day"}
    assert {(r.job, r.period) for r in second.run_due(NOON + timedelta(days=1), [world.a.clinic.id])} == {
        ("adherence_low", "2030-06-11"),
        ("review_prompts", "2030-06-11"),
        ("prune", "2030-06-11"),
        ("missed_day", "2030-06-11T12:00"),
    }
    runs = _runs(world.a.clinic.id)
    assert len(runs) == 4 + 1 + 4
    assert all(run.finished_at is not None and run.attempts == 1 for run in runs)


def test_a_day_is_the_clinics_local_day_across_daylight_saving(session, world):
    world.a.clinic.timezone = "America/New_York"
    session.add(world.a.clinic)
    session.commit()
    daily = next(job for job in jobs.JOBS if job.name == "adherence_low")
    clock = jobs.ClinicClock(world.a.clinic.id, "America/New_York")
    # Sunday 10 March 2030 the clocks go forward: the local day is 23 hours long, and still one period.
    assert daily.period(clock, datetime(2030, 3, 10, 4, 59, tzinfo=UTC)) == "2030-03-09"  # 23:59 EST
    assert daily.period(clock, datetime(2030, 3, 10, 5, 0, tzinfo=UTC)) == "2030-03-10"  # 00:00 EST
    assert daily.period(clock, datetime(2030, 3, 11, 3, 59, tzinfo=UTC)) == "2030-03-10"  # 23:59 EDT
    assert daily.period(clock, datetime(2030, 3, 11, 4, 0, tzinfo=UTC)) == "2030-03-11"
    scheduler = Scheduler(get_engine(), job_list=(daily,))
    moments = [datetime(2030, 3, 10, 4, 30, tzinfo=UTC) + timedelta(hours=h) for h in range(0, 25)]
    ran = [r.period for moment in moments for r in scheduler.run_due(moment, [world.a.clinic.id])]
    assert ran == ["2030-03-09", "2030-03-10", "2030-03-11"]  # none lost, none twice


def test_a_lapsed_lease_is_taken_over_and_a_live_one_is_not(session, world):
    clinic = world.a.clinic.id
    assert jobs.claim(session, clinic, "prune", "2030-06-10", "crashed", timedelta(minutes=10), NOON)
    session.commit()
    scheduler = Scheduler(get_engine(), job_list=tuple(j for j in jobs.JOBS if j.name == "prune"))
    assert scheduler.run_due(NOON + timedelta(minutes=9), [clinic]) == []  # its lease still holds
    [ran] = scheduler.run_due(NOON + timedelta(minutes=11), [clinic])
    assert ran.job == "prune"
    [run] = _runs(clinic)
    assert (run.runner, run.attempts, run.finished_at is not None) == (scheduler.runner, 2, True)


def test_a_runner_that_lost_its_lease_stores_nothing(world):
    """Runner A's job takes longer than its lease; B takes the run over and runs it. A's work is rolled
    back when it finds the row no longer its own: the period's event is emitted once, by B."""
    clinic = world.a.clinic.id

    def slow_emit(session, clock, now, _patients=()):
        if not taken_over:
            with Session(get_engine()) as other:  # meanwhile, past A's lease, runner B takes the run over
                taken_over.append(
                    jobs.claim(other, clinic, "probe", "2030-06-10", "B", timedelta(minutes=10), now + lease)
                )
                other.commit()
        calls.append(now)
        events.emit(session, clinic, "adherence.low", {"probe": "AB"[len(calls) - 1]})
        return 1

    taken_over: list[bool] = []
    calls: list[datetime] = []
    lease = timedelta(minutes=10, seconds=1)
    a = Scheduler(
        get_engine(),
        lease=timedelta(minutes=10),
        job_list=(jobs.Job("probe", "daily", slow_emit, per_patient=False),),
    )
    assert a.run_due(NOON, [clinic]) == []
    assert taken_over == [True]
    assert [e.data for e in _events(clinic, "adherence.low")] == []
    with Session(get_engine()) as session:  # B runs it (as the "B" runner finishing its claim)
        slow_emit(session, None, NOON)
        assert jobs.finish(session, clinic, "probe", "2030-06-10", "B", "1 emitted", NOON)
        session.commit()
    assert [e.data for e in _events(clinic, "adherence.low")] == [{"probe": "B"}]


postgresql_only = pytest.mark.skipif(
    not os.environ["HEP_DATABASE_URL"].startswith("postgresql"),
    reason="several runners at once: PostgreSQL (SQLite has one writer and the API's in-process runner)",
)

# A runner that claims the clinic's adherence check, stores its work without committing, says so and hangs
# until it is killed: a runner that dies in the middle of a period.
VICTIM = textwrap.dedent(
    """
    import sys, time, uuid
    from datetime import timedelta
    from app.db import get_engine
    from app.scheduler import Scheduler
    from app.services import jobs

    real = next(job for job in jobs.JOBS if job.name == "adherence_low")

    def hang(session, clock, now, patients):
        emitted = real.run(session, clock, now, patients)
        session.flush()
        print("working", emitted, "emitted", flush=True)
        time.sleep(600)

    job_list = (jobs.Job(real.name, "daily", hang),)
    runner = Scheduler(get_engine(), lease=timedelta(seconds=3), job_list=job_list)
    runner.run_due(clinic_ids=[uuid.UUID(sys.argv[1])])
    """
)


@postgresql_only
def test_two_workers_run_each_job_once_and_take_over_from_a_killed_runner(client, world):
    clinic = world.a.clinic.id
    programme = active_programme(client, world.a, backdate=BEFORE_START)  # nothing logged: adherence 0 %
    victim = subprocess.Popen(
        [sys.executable, "-c", VICTIM, str(clinic)],
        cwd=REPO,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    workers = []
    try:
        line = victim.stdout.readline()
        assert line.startswith("working 1 emitted"), line + victim.stdout.read()
        os.kill(victim.pid, signal.SIGKILL)  # mid-period, its work not committed
        victim.wait()
        [held] = _runs(clinic)
        assert (held.job, held.finished_at) == ("adherence_low", None)
        workers = [start_worker("--jobs-interval", "0.2") for _ in range(2)]
        wait_until(
            lambda: {r.job for r in _runs(clinic) if r.finished_at is not None} == JOB_NAMES, timeout=120
        )
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=60)
            worker.stdout.close()
        if victim.poll() is None:
            victim.kill()
        victim.stdout.close()
    runs = {run.job: run for run in _runs(clinic)}
    assert set(runs) == JOB_NAMES and len(_runs(clinic)) == len(JOB_NAMES)  # once per period each
    assert runs["adherence_low"].attempts == 2 and runs["adherence_low"].runner != held.runner
    assert all(run.attempts == 1 for job, run in runs.items() if job != "adherence_low")
    assert len({run.runner for run in runs.values()}) >= 1
    emitted = _events(clinic, "adherence.low")
    assert [e.data["programme_id"] for e in emitted] == [programme["id"]]  # once: the killed run left none


def test_runners_racing_for_the_same_periods_run_each_once(session):
    """Four runners in threads, over ten clinics, for the same period at once: each clinic's run happens
    once (the probe counts every time the work is done and committed)."""
    import threading

    from tests.factories import make_clinic

    clinics = [make_clinic(session).id for _ in range(10)]
    session.commit()
    done: list[tuple] = []
    lock = threading.Lock()

    def probe(_session, clock, now, _patients):
        with lock:
            done.append((clock.id, now))
        return 1

    runners = [
        Scheduler(get_engine(), job_list=(jobs.Job("probe", "daily", probe, per_patient=False),))
        for _ in range(4)
    ]
    ran: list = []
    threads = [
        threading.Thread(target=lambda r=runner: ran.extend(r.run_due(NOON, clinics))) for runner in runners
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(clinic for clinic, _ in done) == sorted(clinics)  # each once, none lost
    assert sorted(r.clinic_id for r in ran) == sorted(clinics)


def test_the_daily_review_prompts_an_item_the_patient_stopped_logging(client, world):
    from tests.logging_helpers import item_ids, log_body

    programme = active_programme(
        client, world.a, items=[{"exercise": "cat-camel", "reps": 6}], backdate=BEFORE_START
    )
    performed = datetime.now(UTC) - timedelta(days=2)
    body = log_body(programme, item_ids(programme)[0], performed.isoformat(), response="same")
    logged = client.post("/v1/me/sessions", json=body, headers=world.a.headers["patient"])
    assert logged.status_code == 201 and logged.json()["colour"] == "yellow", logged.text
    review = tuple(job for job in jobs.JOBS if job.name == "review_prompts")
    scheduler = Scheduler(get_engine(), job_list=review)

    def alerts():
        listed = client.get(
            "/v1/alerts", params={"patient_id": str(world.a.patient.id)}, headers=world.a.headers["physio"]
        )
        return [alert["reasons"] for alert in listed.json()["items"]]

    scheduler.run_due(performed + timedelta(days=13), [world.a.clinic.id])
    assert alerts() == []  # 13 days without a green session: not yet
    [ran] = scheduler.run_due(performed + timedelta(days=15), [world.a.clinic.id])  # the next look after 14
    assert ran.outcome == "1 raised"
    assert alerts() == [["no_green_14_days"]]
    assert len(scheduler.run_due(performed + timedelta(days=17), [world.a.clinic.id])) == 1
    assert alerts() == [["no_green_14_days"]]  # once for that dose


def test_pruning_removes_credentials_a_week_past_expiry(client, world):
    from sqlalchemy import update

    from app.models.auth import EnrolmentCode

    made = client.post(
        f"/v1/patients/{world.a.patient.id}/enrolment-codes", headers=world.a.headers["physio"]
    )
    assert made.status_code == 201, made.text
    fresh = client.post(
        f"/v1/patients/{world.a.patient.id}/enrolment-codes", headers=world.a.headers["physio"]
    )
    assert fresh.status_code == 201
    with Session(get_engine()) as session:
        codes = session.exec(
            select(EnrolmentCode).where(EnrolmentCode.patient_id == world.a.patient.id)
        ).all()
        old = codes[0].id
        session.execute(
            update(EnrolmentCode)
            .where(EnrolmentCode.id == old)
            .values(expires_at=datetime.now(UTC) - timedelta(days=8))
        )
        session.commit()
    prune = tuple(job for job in jobs.JOBS if job.name == "prune")
    [ran] = Scheduler(get_engine(), job_list=prune).run_due(None, [world.a.clinic.id])
    with Session(get_engine()) as session:
        left = session.exec(
            select(EnrolmentCode.id).where(EnrolmentCode.patient_id == world.a.patient.id)
        ).all()
    assert old not in left and len(left) == 1
    assert ran.outcome == "1 credentials and keys removed"


def test_a_run_works_through_the_patients_a_page_at_a_time(client, world):
    """Three patients with an active programme, pages of two: two transactions, each patient once."""
    from tests.factories import make_patient, patient_headers

    tenant = world.a
    with Session(get_engine(), expire_on_commit=False) as session:
        others = [make_patient(session, tenant.clinic, external_id=f"P{n}") for n in range(2)]
        session.commit()
    for patient in [tenant.patient, *others]:
        tenant.patient = patient
        tenant.headers["patient"] = patient_headers(patient)
        active_programme(client, tenant, backdate=BEFORE_START)
    low = tuple(job for job in jobs.JOBS if job.name == "adherence_low")
    [ran] = Scheduler(get_engine(), job_list=low, page_size=2).run_due(NOON, [tenant.clinic.id])
    assert ran.outcome == "3 emitted"
    emitted = _events(tenant.clinic.id, "adherence.low")
    assert len({e.data["patient_id"] for e in emitted}) == len(emitted) == 3
