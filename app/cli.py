"""`hep`: run the server and the webhook worker, migrate, seed and bootstrap clinics, users and API keys."""

import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session

from app.config import get_settings
from app.db import get_engine
from app.errors import DomainError

cli = typer.Typer(help="Home-exercise prescription service", no_args_is_help=True, add_completion=False)


def _session() -> Session:
    return Session(get_engine(), expire_on_commit=False)


def _fail(exc: DomainError) -> None:
    typer.secho(f"error: {exc.detail}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


@cli.command()
def migrate() -> None:
    """Apply every pending database migration."""
    from alembic import command
    from app.services.health import alembic_config

    settings = get_settings()
    typer.echo(f"Migrating {_safe_url(settings.database_url)} to the newest schema...")
    config = alembic_config(settings.database_url)
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")
    typer.echo("Database schema is up to date.")


@cli.command()
def seed(
    directory: Annotated[
        Path | None, typer.Option(help="Folder of chain files (default: the repository's exercises/)")
    ] = None,
) -> None:
    """Load the exercise catalogue into the database: upsert by slug; removed exercises are archived."""
    from app.models.catalogue_files import CATALOGUE_DIR, CatalogueError, load_catalogue
    from app.services import catalogue

    try:
        chains = load_catalogue(directory or CATALOGUE_DIR)
    except CatalogueError as exc:
        for message in exc.errors:
            typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    with _session() as session:
        with typer.progressbar(
            length=catalogue.count_exercises(chains), label="Seeding exercises", file=sys.stderr
        ) as bar:
            report = catalogue.seed_catalogue(session, chains, bar.update)
        session.commit()
    typer.echo(report.summary())
    if report.archived:
        typer.echo(f"Archived (no longer in the files): {', '.join(report.archived)}")


@cli.command("check-adherence")
def check_adherence() -> None:
    """Emit adherence.low for patients under their clinic's threshold over the last 7 days (run daily)."""
    from app.services import adherence

    with _session() as session:
        emitted = adherence.check_low_adherence(session)
        session.commit()
    typer.echo(f"adherence.low emitted for {emitted} programme(s).")


@cli.command()
def simulate(
    pattern: Annotated[str, typer.Option(help="steady, plateau, flare or low-adherence")] = "steady",
    weeks: Annotated[int, typer.Option(min=1, max=26, help="How many weeks to play")] = 6,
    programme: Annotated[
        Path | None, typer.Option(help="A programme as JSON (the body of POST /v1/patients/{id}/programmes)")
    ] = None,
) -> None:
    """Play a synthetic patient's weeks of sessions through a programme and print its revision history.

    Runs on a throw-away SQLite database with the catalogue seeded: your real data is never touched."""
    import json
    import tempfile
    from datetime import UTC, datetime, timedelta

    from pydantic import ValidationError

    from alembic import command
    from app import simulation
    from app.db import make_engine
    from app.models.catalogue_files import CATALOGUE_DIR, load_catalogue
    from app.models.programme_document import ProgrammeCreate
    from app.services import catalogue, clinics
    from app.services.health import alembic_config

    if pattern not in simulation.PATTERNS:
        typer.secho(
            f"error: --pattern must be one of {', '.join(simulation.PATTERNS)}", fg=typer.colors.RED, err=True
        )
        raise typer.Exit(1)
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(weeks=weeks)
    try:
        document = (
            ProgrammeCreate.model_validate({**json.loads(programme.read_text()), "start_date": start.date()})
            if programme
            else simulation.example_programme(start)
        )
    except (OSError, ValueError, ValidationError) as exc:
        typer.secho(f"error: {programme}: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/simulation.db"
        config = alembic_config(url)
        config.attributes["configure_logger"] = False
        command.upgrade(config, "head")
        engine = make_engine(url)
        with Session(engine, expire_on_commit=False) as session:
            catalogue.seed_catalogue(session, load_catalogue(CATALOGUE_DIR), lambda _: None)
            clinic = clinics.create_clinic(session, "Simulation", "simulation")
            session.commit()
            days = weeks * 7
            with typer.progressbar(length=days, label=f"Simulating {weeks} weeks", file=sys.stderr) as bar:
                try:
                    result, lines = simulation.run(
                        session,
                        clinic.id,
                        document,
                        simulation.PATTERNS[pattern][1],
                        days,
                        start,
                        on_day=lambda _day, _programme: bar.update(1),
                        mornings=simulation.PATTERNS[pattern][2],
                    )
                    proposals = simulation.waiting(session, result)
                    raised = simulation.alerts(session, result, start)
                except DomainError as exc:
                    typer.secho(f"error: {exc.detail}", fg=typer.colors.RED, err=True)
                    for error in exc.errors or []:
                        typer.secho(f"  {'.'.join(map(str, error['loc']))}: {error['message']}", err=True)
                    raise typer.Exit(1) from exc
        engine.dispose()
    typer.echo(f"\n{result.title}: {simulation.PATTERNS[pattern][0]}, {weeks} weeks")
    typer.echo(f"{'rev':>4}  {'day':>4}  {'reason':<12} change")
    for line in lines:
        typer.echo(f"{line.number:>4}  {line.day:>4}  {line.reason:<12} {'; '.join(line.changes)}")
    typer.echo(
        f"Final: revision {result.revision}, phase {result.current_phase + 1}, status {result.status}."
    )
    for proposal in proposals:
        typer.echo(f"Waiting for a clinician: {proposal}")
    for alert in raised:
        typer.echo(f"Alert for the clinician: {alert}")


@cli.command("create-clinic")
def create_clinic(
    name: Annotated[str, typer.Option(help="Clinic name")],
    slug: Annotated[str, typer.Option(help="Short unique identifier, e.g. riverside")],
    timezone: Annotated[str, typer.Option(help="IANA timezone")] = "UTC",
) -> None:
    """Create a clinic (tenant)."""
    from app.services import clinics

    with _session() as session:
        try:
            clinic = clinics.create_clinic(session, name, slug, timezone)
        except DomainError as exc:
            _fail(exc)
        session.commit()
        typer.echo(f"Created clinic {clinic.slug} ({clinic.id})")


@cli.command("create-user")
def create_user(
    clinic: Annotated[str, typer.Option(help="Clinic slug")],
    email: Annotated[str, typer.Option()],
    name: Annotated[str, typer.Option()],
    role: Annotated[str, typer.Option(help="admin or physio")] = "physio",
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="At least 10 characters"),
    ] = "",
) -> None:
    """Create a staff user in a clinic."""
    from pydantic import ValidationError

    from app.models.user import UserCreate
    from app.services import clinics, users

    try:
        data = UserCreate(email=email, name=name, role=role, password=password)  # type: ignore[arg-type]
    except ValidationError as exc:
        for err in exc.errors():
            typer.secho(
                f"error: {'.'.join(map(str, err['loc']))}: {err['msg']}", fg=typer.colors.RED, err=True
            )
        raise typer.Exit(1) from exc
    with _session() as session:
        try:
            found = clinics.get_clinic_by_slug(session, clinic)
            user = users.create_user(session, found.id, data.email, data.name, data.role, data.password)
        except DomainError as exc:
            _fail(exc)
        session.commit()
        typer.echo(f"Created {user.role} {user.email} ({user.id})")


@cli.command("create-api-key")
def create_api_key(
    clinic: Annotated[str, typer.Option(help="Clinic slug")],
    name: Annotated[str, typer.Option(help="What the key is for, e.g. 'EHR production'")],
) -> None:
    """Create an API key for a clinic's EHR integration. The key is printed once."""
    from app.services import api_keys, clinics

    with _session() as session:
        try:
            found = clinics.get_clinic_by_slug(session, clinic)
        except DomainError as exc:
            _fail(exc)
        key, secret = api_keys.create_api_key(session, found.id, name, None)
        session.commit()
        typer.echo(f"API key {key.id} for {found.slug}. Store it now; it is not shown again:")
        typer.echo(secret)


@cli.command()
def demo() -> None:
    """Create the demo clinic (if absent) and print its sign-in details once."""
    from app.services import clinics

    settings = get_settings()
    if settings.env == "prod":
        typer.secho("error: the demo clinic is not created when HEP_ENV=prod", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    with _session() as session:
        credentials = clinics.create_demo(session, settings)
        session.commit()
    if credentials is None:
        typer.echo("Demo clinic exists already; its passwords were printed when it was created.")
        return
    base = f"http://{settings.host}:{settings.port}"
    typer.secho("\nDemo clinic created. These secrets are shown only now:", fg=typer.colors.GREEN)
    typer.echo(
        f"""
  export HEP_URL={base}
  export ADMIN_EMAIL={credentials.admin_email}
  export ADMIN_PASSWORD='{credentials.admin_password}'
  export PHYSIO_EMAIL={credentials.physio_email}
  export PHYSIO_PASSWORD='{credentials.physio_password}'
  export PATIENT_ID={credentials.patient.id}
  export ENROLMENT_CODE={credentials.enrolment_code}

Paste those lines into a shell, then follow the walk-through in README.md.
""",
    )
    sys.stdout.flush()  # before uvicorn takes over the process, even when stdout is a file


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default HEP_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default HEP_PORT)")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Serve the API with uvicorn (creating the demo clinic first when HEP_DEMO=1). Logs are JSON lines
    on stdout, one per request (docs/operations.md)."""
    import uvicorn

    from app.observability import logging_config

    settings = get_settings()
    if settings.demo:
        demo()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        proxy_headers=True,
        log_config=logging_config(settings.log_level),  # applied in every worker process too
        access_log=False,  # the app logs each request itself, without the query string
    )


@cli.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=100, help="Deliveries sent at once")] = 20,
    poll_interval: Annotated[
        float, typer.Option(min=0.05, help="Seconds between checks for due deliveries")
    ] = 1.0,
    timeout: Annotated[float, typer.Option(min=0.1, max=60, help="Seconds to wait for a receiver")] = 15.0,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port (default: none)")
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="Address for the metrics port; 0.0.0.0 inside a container")
    ] = "127.0.0.1",
) -> None:
    """Deliver webhooks until SIGTERM or Ctrl-C (sends under way finish first). Run as many as needed on
    PostgreSQL; on SQLite the API's in-process dispatcher (HEP_DISPATCHER=inprocess) is the one to use."""
    import logging
    import signal

    from app.dispatcher import Dispatcher
    from app.observability import configure_logging
    from app.webhooks.policy import DeliveryPolicy

    settings = get_settings()
    configure_logging(settings.log_level)
    log = logging.getLogger("hep.worker")
    # Block the stop signals in every thread (the dispatcher's threads inherit this) and wait for them here.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    dispatcher = Dispatcher(
        get_engine(),
        allow_private=settings.webhook_allow_private,
        policy=DeliveryPolicy(timeout_seconds=timeout),
        concurrency=concurrency,
        poll_interval=poll_interval,
    )
    if metrics_port is not None:
        _serve_worker_metrics(metrics_host, metrics_port)
    dispatcher.start()
    log.info("Delivering webhooks from %s (concurrency %d).", _safe_url(settings.database_url), concurrency)
    try:
        received = signal.sigwait(stop_signals)
        log.info("%s: finishing the sends under way...", signal.Signals(received).name)
    finally:
        dispatcher.stop()
    log.info("Stopped.")


def _serve_worker_metrics(host: str, port: int) -> None:
    """The worker's delivery counters and the queue depth, for Prometheus (no token: bind it internally)."""
    from prometheus_client import REGISTRY, start_http_server

    from app.observability import DeliveryQueueCollector
    from app.services import health

    def read_queue():
        with _session() as session:
            return health.delivery_queue(session)

    REGISTRY.register(DeliveryQueueCollector(read_queue))
    start_http_server(port, addr=host)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    cli()
