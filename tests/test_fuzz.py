"""Schema fuzzing: schemathesis sends generated requests to every operation of the app's own OpenAPI
document, as every kind of caller, and checks each answer.

What must hold for every request, valid or not: no 5xx; every error is problem+json with a stable code;
status codes, content types, headers and bodies conform to the published schema; and a request that
breaks the schema (a wrong type, a value out of bounds, an unknown field) is refused, never served.

Each operation is a test of its own. It runs as each caller the operation admits (found by asking once
with each: one that answers 403 is left out, the tenancy matrix covers those), with generated path ids
and with the ids of real resources (so requests get past the loaders into the services), with valid
(positive) and schema-breaking (negative) data.

`make test` runs a bounded, reproducible pass (FUZZ_EXAMPLES per operation, derandomized); `make fuzz`
runs many more examples with a fresh random seed each time (printed on failure, replay it with
`--hypothesis-seed`).
"""

import os
import re
import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import update
from sqlmodel import Session

from app.db import get_engine
from app.main import create_app
from app.models.webhook import Delivery, WebhookEndpoint
from tests.factories import Tenant, make_resources, make_tenant

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
RANDOM = os.environ.get("FUZZ_RANDOM") == "1"
PARAM = re.compile(r"{(\w+)}")
NOT_ADMITTED = {"staff_only", "patient_only", "role_required"}
ANONYMOUS = "anonymous"

OPERATIONS = [
    pytest.param(method.upper(), path, id=f"{method.upper()} {path}")
    for path, operations in create_app().openapi()["paths"].items()
    for method in operations
]


def problem_json(ctx, response, case) -> None:
    """Every error answer is RFC 9457 problem+json with the fields clients program against (FHIR reads
    answer a missing or invalid resource with an OperationOutcome, as FHIR clients expect, and the OAuth2
    token endpoint its errors as RFC 6749 §5.2 says, as OAuth2 clients expect)."""
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])[0]
    body = response.json()
    if case.operation.path.startswith("/fhir/") and response.status_code in (400, 404):
        assert content_type.startswith("application/fhir+json"), f"FHIR error answered as {content_type!r}"
        assert body["resourceType"] == "OperationOutcome" and body["issue"], body
        return
    if case.operation.path == "/v1/auth/token" and response.status_code in (400, 429):
        assert content_type.startswith("application/json"), f"OAuth2 error answered as {content_type!r}"
        assert body["error"] and body["error_description"] and body["code"], body
        return
    assert content_type.startswith("application/problem+json"), f"error answered as {content_type!r}"
    assert {"type", "title", "status", "detail", "code"} <= body.keys(), body
    assert body["status"] == response.status_code, body


def rejected(ctx, response, case) -> None:
    """negative_data_rejection, with 413 counted as a refusal too: the sign-in routes refuse a body over
    4 KB before reading it (issue 19, F1), which is how an oversized field there is refused."""
    if response.status_code == 413:
        return
    negative_data_rejection(ctx, response, case)


# `negative_data_rejection`: a request the schema does not admit must be refused (4xx), not served.
# Request bodies are validated strictly (app.models.common.INPUT: no "5" for an integer, no 1 for a
# boolean, no Unix time for a date-time), date parameters and fields refuse anything but an ISO 8601
# string within the service's calendar, and boolean query parameters take only `true` and `false`.
CHECKS = [
    not_a_server_error,
    rejected,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    problem_json,
]


@pytest.fixture(scope="module")
def schema(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # The credentials are the test's own (one caller at a time), not generated.
    schema.config.generation.update(with_security_parameters=False)
    return schema


@pytest.fixture(scope="module")
def tenant() -> Iterator[Tenant]:
    """One clinic of this module's own: its admin, physio, patient and API key are the callers."""
    with Session(get_engine(), expire_on_commit=False) as session:
        tenant = make_tenant(session)
        session.commit()
    yield tenant
    # The fuzzer registered webhook endpoints at generated URLs and made events for them. Nothing sends
    # during this module (HEP_DISPATCHER=off), but a later test's dispatcher would: cancel them all, so
    # that no request ever leaves for a generated host.
    with Session(get_engine()) as session:
        clinic = WebhookEndpoint.clinic_id == tenant.clinic.id
        session.execute(update(WebhookEndpoint).where(clinic).values(enabled=False))
        session.execute(
            update(Delivery)
            .where(Delivery.clinic_id == tenant.clinic.id, Delivery.status == "pending")
            .values(status="cancelled", next_attempt_at=None)
        )
        session.commit()


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_operation_holds_its_contract(schema, tenant, session, client, method, path):
    operation = schema[path][method]
    headers = {**tenant.headers, ANONYMOUS: {}}
    if operation.definition.raw.get("security"):
        # Ids that exist nowhere: the role checks answer before any loader, and nothing is changed.
        absent = PARAM.sub(lambda match: str(uuid.uuid4()), path)
        admitted = [
            who
            for who in tenant.headers
            if not _refused(client.request(method, absent, headers=headers[who]))
        ]
    else:
        admitted = [ANONYMOUS]
    assert admitted, f"no caller may use {method} {path}"
    resources = make_resources(session, tenant)  # fresh for each operation: a DELETE may remove them
    real_ids = {name: resources[name] for name in PARAM.findall(path)}

    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    strategies = [operation.as_strategy(mode) for mode in modes]
    if real_ids:
        strategies += [operation.as_strategy(mode, path_parameters=real_ids) for mode in modes]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=not RANDOM,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(case=st.one_of(strategies), caller=st.sampled_from(admitted))
    def fuzz(case, caller):
        response = case.call(headers=headers[caller])
        case.validate_response(response, checks=CHECKS, headers=headers[caller])

    fuzz()


def _refused(response) -> bool:
    return response.status_code == 403 and response.json().get("code") in NOT_ADMITTED
