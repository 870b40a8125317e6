"""The periodic jobs' runner: a thread beside the webhook dispatcher, in the API process and every
`hep worker`, so no cron is needed.

Every `interval` seconds it looks for the (clinic, job, period) runs the current periods still need
(app/services/jobs.py), claims each by its lease and runs it. However many runners there are, a period's
run is stored once; a runner that dies mid-run leaves a lease that runs out, and another takes the run
over. Like the dispatcher, it opens and commits its own units of work.

Why not a scheduling library: APScheduler 3 keeps its schedule per process (N workers, N runs), and its
distributed data stores (APScheduler 4) are still pre-release; none schedules "once per period per
tenant in the tenant's time zone". The lease is one table and two statements.
"""

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.db import utcnow
from app.services import jobs

logger = logging.getLogger("hep.jobs")


@dataclass(frozen=True)
class Ran:
    clinic_id: uuid.UUID
    job: str
    period: str
    outcome: str


class Scheduler:
    def __init__(
        self,
        engine: Engine,
        *,
        interval: float = 60.0,
        lease: timedelta = timedelta(minutes=10),
        job_list: tuple[jobs.Job, ...] = jobs.JOBS,
        page_size: int = 100,
    ) -> None:
        self.page_size = page_size
        self.engine = engine
        self.interval = interval
        self.lease = lease
        self.jobs = job_list
        self.runner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_due(self, now: datetime | None = None, clinic_ids: list[uuid.UUID] | None = None) -> list[Ran]:
        """One pass: run every job whose current period has not run for a clinic (every clinic, or those
        given) and may be claimed."""
        now = now or utcnow()
        with Session(self.engine) as session:
            pending = jobs.unfinished(session, jobs.clinics(session, clinic_ids), now, self.jobs)
        ran: list[Ran] = []
        for clinic, job, period in pending:
            if self._stop.is_set():
                break
            outcome = self._run_one(clinic, job, period, now)
            if outcome is not None:
                ran.append(Ran(clinic.id, job.name, period, outcome))
        return ran

    def _run_one(self, clinic: jobs.ClinicClock, job: jobs.Job, period: str, now: datetime) -> str | None:
        with Session(self.engine) as session:
            claimed = jobs.claim(session, clinic.id, job.name, period, self.runner, self.lease, now)
            session.commit()
        if not claimed:
            return None
        try:
            pages: list[list[uuid.UUID]] = [[]]
            if job.per_patient:
                with Session(self.engine) as session:
                    patients = jobs.active_patients(session, clinic.id)
                pages = [
                    patients[i : i + self.page_size] for i in range(0, len(patients), self.page_size)
                ] or [[]]
            done = 0
            for number, page in enumerate(pages, start=1):
                with Session(self.engine, expire_on_commit=False) as session:
                    if page or not job.per_patient:
                        done += job.run(session, clinic, now, page)
                    outcome = f"{done} {job.unit}"
                    if number == len(pages):
                        mine = jobs.finish(session, clinic.id, job.name, period, self.runner, outcome, now)
                    else:
                        mine = jobs.holds(session, clinic.id, job.name, period, self.runner)
                    if not mine:
                        session.rollback()  # our lease ran out and another runner took the run over
                        return None
                    session.commit()
        except Exception:
            # The lease runs out and a runner (this one, or another) tries the period again.
            logger.exception("periodic job failed", extra={"job": job.name, "clinic_id": str(clinic.id)})
            return None
        logger.debug("periodic job ran", extra={"job": job.name, "period": period, "outcome": outcome})
        return outcome

    def _serve(self) -> None:
        # The first look comes one interval after the start: a process that starts and stops at once (a
        # deployment's restart, a test) leaves the jobs to the runners that stay.
        while not self._stop.wait(self.interval):
            try:
                ran = self.run_due()
            except Exception:
                logger.exception("could not look for due periodic jobs")
                continue
            if ran:
                logger.info(
                    "periodic jobs ran", extra={"runs": len(ran), "jobs": sorted({r.job for r in ran})}
                )

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="periodic-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the job under way (its work is committed, or rolled back and its lease runs out)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
