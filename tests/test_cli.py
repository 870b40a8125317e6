"""The `hep` bootstrap commands against the test database."""

import re

from typer.testing import CliRunner

from app.cli import cli
from tests.factories import bearer
from tests.helpers import assert_problem

runner = CliRunner()


def test_bootstrap_clinic_user_and_api_key(client, unique):
    slug = f"cli-{unique}"
    created = runner.invoke(
        cli, ["create-clinic", "--name", "CLI Clinic", "--slug", slug, "--timezone", "Europe/Madrid"]
    )
    assert created.exit_code == 0, created.output
    assert f"Created clinic {slug}" in created.output

    email = f"admin-{unique}@example.org"
    user = runner.invoke(
        cli,
        [
            "create-user",
            "--clinic",
            slug,
            "--email",
            email,
            "--name",
            "Ana",
            "--role",
            "admin",
            "--password",
            "a long password",
        ],
    )
    assert user.exit_code == 0, user.output
    token = client.post("/v1/auth/token", data={"username": email, "password": "a long password"})
    assert token.status_code == 200

    key = runner.invoke(cli, ["create-api-key", "--clinic", slug, "--name", "EHR"])
    assert key.exit_code == 0, key.output
    secret = re.search(r"^(hep_\S+)$", key.output, re.MULTILINE).group(1)
    listed = client.get("/v1/patients", headers=bearer(secret))
    assert listed.status_code == 200 and listed.json()["items"] == []


def test_bootstrap_errors_exit_non_zero(unique):
    slug = f"dup-{unique}"
    assert runner.invoke(cli, ["create-clinic", "--name", "A", "--slug", slug]).exit_code == 0
    again = runner.invoke(cli, ["create-clinic", "--name", "A", "--slug", slug])
    assert again.exit_code == 1 and "already exists" in again.output
    missing = runner.invoke(cli, ["create-api-key", "--clinic", f"nope-{unique}", "--name", "x"])
    assert missing.exit_code == 1 and "No clinic" in missing.output
    weak = runner.invoke(
        cli,
        [
            "create-user",
            "--clinic",
            slug,
            "--email",
            f"x{unique}@example.org",
            "--name",
            "X",
            "--password",
            "short",
        ],
    )
    assert weak.exit_code == 1 and "password" in weak.output
    bad_role = runner.invoke(
        cli,
        [
            "create-user",
            "--clinic",
            slug,
            "--email",
            f"y{unique}@example.org",
            "--name",
            "Y",
            "--role",
            "root",
            "--password",
            "a long password",
        ],
    )
    assert bad_role.exit_code == 1 and "role" in bad_role.output


def test_api_key_from_cli_is_scoped_to_its_clinic(client, world, unique):
    slug = f"iso-{unique}"
    runner.invoke(cli, ["create-clinic", "--name", "Iso", "--slug", slug])
    secret = re.search(
        r"^(hep_\S+)$", runner.invoke(cli, ["create-api-key", "--clinic", slug, "--name", "k"]).output, re.M
    )
    assert_problem(client.get(f"/v1/patients/{world.a.patient.id}", headers=bearer(secret.group(1))), 404)
