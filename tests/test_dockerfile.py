"""The Dockerfile, held without a container engine (the development machine has none to build with).

What the image must be: unprivileged, in production mode, with no secret baked in; its default command
migrates, seeds and serves with `hep` commands that exist; its health check asks the port it serves;
and the files it copies are enough to run: migrate, seed and answer /readyz from a directory holding
only what the Dockerfile copies (less what .dockerignore leaves out), as in /srv/hep in the image.
"""

import fnmatch
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import typer

from app.cli import cli
from tests import dbutil

REPO = Path(__file__).resolve().parents[1]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments left out."""
    lines, current = [], ""
    for raw in (REPO / "Dockerfile").read_text().splitlines():
        if raw.lstrip().startswith("#") or not raw.strip():
            continue
        current += raw.rstrip().removesuffix("\\") + " " if raw.rstrip().endswith("\\") else raw.strip()
        if not raw.rstrip().endswith("\\"):
            lines.append(current)
            current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def arguments(name: str) -> list[str]:
    return [args for instruction, args in instructions() if instruction == name]


def test_the_image_runs_unprivileged_in_production_mode():
    steps = [instruction for instruction, _ in instructions()]
    assert arguments("FROM") == ["python:3.11-slim"]
    # The user is switched after the last step that writes files, and is not root.
    assert steps.index("USER") > max(i for i, step in enumerate(steps) if step in ("RUN", "COPY"))
    assert arguments("USER") == ["hep"]
    useradd = next(args for args in arguments("RUN") if "useradd" in args)
    uid = int(re.search(r"--uid (\d+)", useradd).group(1))
    assert uid >= 1000 and "--system" in useradd
    environment = " ".join(arguments("ENV"))
    assert "HEP_ENV=prod" in environment  # refuses the placeholder secret and test password hashing
    assert "HEP_SECRET_KEY" not in environment and "HEP_DATABASE_URL" not in environment


def test_the_default_command_migrates_seeds_and_serves_with_commands_that_exist():
    (command,) = arguments("CMD")
    assert "hep migrate && hep seed && exec hep serve" in command
    known = set(typer.main.get_command(cli).commands)
    # `hep` is also the image's name in the `docker run` examples, followed by the command it runs.
    words = re.findall(r"(?=\bhep ([a-z][\w-]*))", (REPO / "Dockerfile").read_text())
    mentioned = set(words) - {"hep", "sh"}
    assert mentioned and mentioned <= known, mentioned - known
    (healthcheck,) = arguments("HEALTHCHECK")
    port = re.search(r"HEP_PORT=(\d+)", " ".join(arguments("ENV"))).group(1)
    assert f"127.0.0.1:{port}/healthz" in healthcheck
    assert port in arguments("EXPOSE")[0].split()


def _ignored(path: Path, patterns: list[str]) -> bool:
    return any(
        fnmatch.fnmatch(part, pattern.removeprefix("**/")) for part in path.parts for pattern in patterns
    )


def _stage(target: Path) -> None:
    """Copy what the Dockerfile's COPY lines copy, as the build context (.dockerignore) allows."""
    patterns = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines() if line.strip()]
    for args in arguments("COPY"):
        *sources, destination = args.split()
        for source in sources:
            origin = REPO / source
            place = target / (source if destination in ("./", ".") else destination.removeprefix("./"))
            if origin.is_dir():
                shutil.copytree(
                    origin, place, ignore=lambda d, names: [n for n in names if _ignored(Path(n), patterns)]
                )
            else:
                shutil.copy(origin, place)


def test_what_the_image_copies_is_enough_to_migrate_seed_and_serve(tmp_path):
    staged = tmp_path / "srv-hep"
    staged.mkdir()
    _stage(staged)
    url = dbutil.create_database(os.environ.get("HEP_TEST_DATABASE_URL"), tmp_path / "image.db")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HEP_")},
        "HEP_ENV": "prod",
        "HEP_SECRET_KEY": secrets.token_urlsafe(48),
        "HEP_DATABASE_URL": url,
        "HEP_DISPATCHER": "off",
    }
    # `python -c` puts the working directory first on sys.path: the staged copy, not the repository.
    hep = [sys.executable, "-c", "import sys, app.cli; sys.argv[0] = 'hep'; app.cli.main()"]
    ready = f"""
import app
from fastapi.testclient import TestClient
from app.main import create_app
assert app.__file__.startswith({str(staged)!r}), app.__file__
with TestClient(create_app()) as client:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert client.get("/openapi.json").status_code == 200
"""
    try:
        for command in (["migrate"], ["seed"]):
            done = subprocess.run(
                [*hep, *command], env=env, cwd=staged, capture_output=True, text=True, timeout=180
            )
            assert done.returncode == 0, done.stdout + done.stderr
        done = subprocess.run(
            [sys.executable, "-c", ready], env=env, cwd=staged, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        dbutil.drop_database(url)
