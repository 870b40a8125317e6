"""`make bench-renders`: how long the printable handout (a 10-item programme) and the progress chart take
to make, per request through the API and for the drawing alone. Not a timed test: a measurement to read.

A fresh SQLite database (migrated, catalogue seeded) gets a clinic, a patient with a 10-item active
programme, 8 weeks of daily session logs and two outcome responses. Each request runs N times in-process
(FastAPI's TestClient: routing, the unit of work, the audit row, the render); the drawing alone is timed
on the same data. Prints one table and writes it to bench/results/<date>-renders.md.

    python -m bench.renders --runs 20
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ITEMS = [
    "double-leg-bridge", "cat-camel", "bird-dog", "prone-lying-over-pillows", "short-walks",
    "posterior-pelvic-tilt", "dead-bug-heel-taps", "knee-plank", "knee-side-plank", "double-knees-to-chest",
]  # fmt: skip


def _timed(call, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, round(len(times) * 0.95) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'renders.db'}"
    os.environ["HEP_DATABASE_URL"] = url
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fastapi.testclient import TestClient
    from sqlmodel import Session

    from app.db import get_engine
    from app.main import create_app
    from app.models.handout import Handout
    from app.models.programme_view import ProgrammeView
    from app.models.progress_chart import PainPoint, ProgressChart, WeekPoint
    from app.services import chart_svg, handout_pdf, handouts
    from tests import dbutil
    from tests.conftest import _seed_catalogue
    from tests.factories import make_tenant
    from tests.logging_helpers import backdate_activation, log_body

    dbutil.migrate(url)
    _seed_catalogue(url)
    with Session(get_engine(), expire_on_commit=False) as session:
        tenant = make_tenant(session)
        session.commit()
    now = datetime.now(UTC)
    with TestClient(create_app()) as client:
        known = {
            e["slug"]
            for e in client.get("/v1/exercises?limit=200", headers=tenant.headers["physio"]).json()["items"]
        }
        items = [
            {"exercise": slug, "sets": 2, "reps": 10, "notes": "Slowly."} for slug in ITEMS if slug in known
        ]
        body = {"title": "Bench plan", "start_date": (now - timedelta(days=60)).date().isoformat(),
                "phases": [{"name": "One", "items": items}]}  # fmt: skip
        created = client.post(
            f"/v1/patients/{tenant.patient.id}/programmes", json=body, headers=tenant.headers["physio"]
        )
        programme = client.post(
            f"/v1/programmes/{created.json()['id']}/activate", headers=tenant.headers["physio"]
        ).json()
        with Session(get_engine()) as session:
            backdate_activation(session, programme, now - timedelta(days=60))
            session.commit()
        item = programme["phases"][0]["items"][0]["id"]
        for days_ago in range(1, 57):
            at = (now - timedelta(days=days_ago)).isoformat()
            log = log_body(
                programme,
                item,
                at,
                pain_during=days_ago % 7,
                leg_symptoms="thigh" if days_ago > 20 else "none",
            )
            client.post("/v1/me/sessions", json=log, headers=tenant.headers["patient"])
        for days_ago, back in ((50, 7), (10, 4)):
            outcome = {
                "instrument": "nprs",
                "answers": {"back": back},
                "taken_at": (now - timedelta(days=days_ago)).isoformat(),
            }
            client.post("/v1/me/outcomes", json=outcome, headers=tenant.headers["patient"])
        handout_url = f"/v1/programmes/{programme['id']}/handout.pdf"
        chart_url = f"/v1/patients/{tenant.patient.id}/progress.svg"
        rows = []
        for name, url_, headers in (
            (f"GET handout.pdf ({len(items)} items, A4)", handout_url, tenant.headers["physio"]),
            ("GET progress.svg (56 days, 1 outcome series)", chart_url, tenant.headers["physio"]),
        ):
            response = client.get(url_, headers=headers)
            assert response.status_code == 200, response.text
            median, p95 = _timed(lambda u=url_, h=headers: client.get(u, headers=h), args.runs)
            rows.append((name, median, p95, len(response.content)))
        view = ProgrammeView.model_validate_json(
            client.get(f"/v1/me/programmes/{programme['id']}", headers=tenant.headers["patient"]).content
        )
    handout = Handout(
        clinic_name="Clinic", patient_name="Pat", revision_date=now.date(), printed_on=now.date(), view=view
    )
    pdf = handout_pdf.render(handout, "a4", handouts.exercise_picture)
    median, p95 = _timed(lambda: handout_pdf.render(handout, "a4", handouts.exercise_picture), args.runs)
    rows.append((f"handout_pdf.render alone ({len(items)} items)", median, p95, len(pdf)))
    start = now.date() - timedelta(days=55)
    chart = ProgressChart(
        start=start, end=now.date(),
        pain=[PainPoint(day=start + timedelta(days=d), during=d % 7, after=d % 5) for d in range(56)],
        leg=[],
        weeks=[WeekPoint(week_start=start + timedelta(days=7 * w), due=14, done=10) for w in range(8)],
        outcomes=[],
    )  # fmt: skip
    svg = chart_svg.render(chart, "en")
    median, p95 = _timed(lambda: chart_svg.render(chart, "en"), args.runs)
    rows.append(("chart_svg.render alone (56 days)", median, p95, len(svg)))
    lines = ["| what | median ms | p95 ms | bytes |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {median:.1f} | {p95:.1f} | {size} |" for name, median, p95, size in rows]
    table = "\n".join(lines)
    print(table)
    out = Path(__file__).resolve().parent / "results" / f"{now.date().isoformat()}-renders.md"
    out.write_text(
        f"# Handout and chart render times ({args.runs} runs each, SQLite, in-process, "
        f"{os.cpu_count()} cores shared)\n\n{table}\n"
    )


if __name__ == "__main__":
    main()
