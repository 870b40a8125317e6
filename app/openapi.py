"""The published contract: the OpenAPI document as clients and linters read it (docs/api.md).

FastAPI builds the document from the routes; this module finishes it in one place:
- every operation's stable id and summary come from OPERATIONS (a route without an entry fails
  tests/test_openapi.py; an id, once published, never changes);
- who may call comes from the caller checks on the route's way (deps.CALLER_SCHEMES), public operations
  say `security: []`;
- errors are declared as they are sent: problem+json (401/403 for secured operations, 404 where the path
  names a resource, 422 where there is input), FHIR's OperationOutcome where a route declares its own;
- a route that answers 428 without `If-Match` declares that header required;
- the webhook payloads are OpenAPI 3.1 `webhooks`, one per event type (app/models/webhook_payloads.py).

`make lint` runs Spectral (`spectral:oas`) and Redocly (`recommended`) on the result: 0 errors, 0 warnings.
"""

import json
import re
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from app.deps import CALLER_SCHEMES, EHR, PATIENT, STAFF
from app.errors import PROBLEM_JSON, Problem
from app.models.webhook_payloads import WEBHOOK_PAYLOADS, WebhookPayload

# (method, path) → (operationId, summary). The one source of operation ids: add a line with every route.
OPERATIONS: dict[tuple[str, str], tuple[str, str]] = {
    # patient app
    ("GET", "/v1/me"): ("getMe", "The signed-in patient"),
    ("GET", "/v1/me/programmes"): ("listMyProgrammes", "The patient's programmes"),
    ("GET", "/v1/me/programmes/{programme_id}"): ("getMyProgramme", "A programme in the patient's language"),
    ("GET", "/v1/me/plan"): ("getMyPlan", "One day's plan"),
    ("POST", "/v1/me/sessions"): ("logMySession", "Log one session"),
    ("GET", "/v1/me/sessions"): ("listMySessions", "The patient's session logs"),
    ("POST", "/v1/me/sessions/batch"): ("logMySessions", "Log up to 500 sessions"),
    ("POST", "/v1/me/symptom-checks"): ("createSymptomCheck", "Symptom check-in"),
    ("PUT", "/v1/me/next-morning/{day}"): ("putNextMorning", "Next-morning report"),
    ("GET", "/v1/me/red-flag-questions"): ("listRedFlagQuestions", "The symptom check-in's questions"),
    ("POST", "/v1/me/outcomes"): ("recordMyOutcome", "Record an outcome questionnaire"),
    ("GET", "/v1/me/outcomes"): ("listMyOutcomes", "The patient's outcome questionnaires"),
    ("GET", "/v1/me/progress"): ("getMyProgress", "The patient's progress"),
    ("GET", "/v1/me/progress.svg"): ("getMyProgressChart", "The patient's progress chart (SVG)"),
    ("GET", "/v1/me/programmes/{programme_id}/handout.pdf"): (
        "getMyHandout",
        "A programme's printable handout",
    ),
    ("GET", "/v1/me/reminder-preferences"): (
        "getMyReminderPreferences",
        "The patient's reminder preferences",
    ),
    ("PUT", "/v1/me/reminder-preferences"): ("setMyReminderPreferences", "Set the reminder preferences"),
    ("GET", "/v1/me/reminders"): ("listMyReminders", "The coming reminder instants"),
    ("POST", "/v1/me/calendar-feed"): ("createMyCalendarFeed", "A new private calendar feed URL"),
    ("DELETE", "/v1/me/calendar-feed"): ("revokeMyCalendarFeed", "Turn the calendar feed off"),
    ("GET", "/v1/calendar/{secret}.ics"): ("getCalendarFeed", "The reminders as iCalendar (RFC 5545)"),
    ("GET", "/media/exercises/{exercise_slug}.svg"): (
        "getExerciseIllustration",
        "An exercise's drawing (SVG)",
    ),
    ("POST", "/v1/patients/{patient_id}/sign-out"): ("signOutPatient", "Sign every device of a patient out"),
    ("GET", "/v1/patients/{patient_id}/reminder-preferences"): (
        "getPatientReminderPreferences",
        "A patient's reminder preferences",
    ),
    ("PUT", "/v1/patients/{patient_id}/reminder-preferences"): (
        "setPatientReminderPreferences",
        "Set a patient's reminder preferences",
    ),
    ("DELETE", "/v1/patients/{patient_id}/calendar-feed"): ("revokePatientCalendarFeed", "Turn a feed off"),
    ("POST", "/v1/patients/{patient_id}/interactions"): (
        "recordInteraction",
        "Record time spent with a patient",
    ),
    ("GET", "/v1/patients/{patient_id}/interactions"): (
        "listInteractions",
        "A patient's recorded interactions",
    ),
    ("GET", "/v1/patients/{patient_id}/monitoring"): ("getPatientMonitoring", "Remote-monitoring figures"),
    ("GET", "/v1/monitoring"): ("listMonitoring", "Every active patient's monitoring figures"),
    ("GET", "/v1/patients/{patient_id}/progress.svg"): ("getPatientProgressChart", "A progress chart (SVG)"),
    ("GET", "/v1/programmes/{programme_id}/handout.pdf"): ("getHandout", "A programme's printable handout"),
    # operations
    ("GET", "/healthz"): ("getHealth", "Alive"),
    ("GET", "/readyz"): ("getReadiness", "Ready: database reachable, migrations at head"),
    ("GET", "/metrics"): ("getMetrics", "Prometheus metrics (see docs/operations.md)"),
    # auth
    ("POST", "/v1/auth/token"): ("createStaffToken", "OAuth2 token endpoint (password and refresh_token)"),
    ("POST", "/v1/auth/refresh"): ("refreshStaffToken", "Refresh a staff token pair (JSON)"),
    ("POST", "/v1/auth/logout"): ("logoutStaff", "Revoke a staff refresh token"),
    ("POST", "/v1/patient-auth/enrol"): ("enrolPatient", "Exchange an enrolment code for tokens"),
    ("POST", "/v1/patient-auth/refresh"): ("refreshPatientToken", "Refresh a patient token pair"),
    ("POST", "/v1/patient-auth/logout"): ("logoutPatient", "Revoke a patient refresh token"),
    # users
    ("GET", "/v1/users"): ("listUsers", "List the clinic's staff"),
    ("POST", "/v1/users"): ("createUser", "Add a staff member"),
    ("GET", "/v1/users/{user_id}"): ("getUser", "Read a staff member"),
    ("PATCH", "/v1/users/{user_id}"): ("updateUser", "Change a staff member"),
    # patients
    ("GET", "/v1/patients"): ("listPatients", "List patients"),
    ("POST", "/v1/patients"): ("createPatient", "Create a patient"),
    ("PUT", "/v1/patients/by-external-id/{external_id}"): ("upsertPatient", "Create or update by EHR id"),
    ("GET", "/v1/patients/{patient_id}"): ("getPatient", "Read a patient"),
    ("PATCH", "/v1/patients/{patient_id}"): ("updatePatient", "Change a patient"),
    ("POST", "/v1/patients/{patient_id}/enrolment-codes"): ("createEnrolmentCode", "Issue an enrolment code"),
    ("GET", "/v1/patients/{patient_id}/sessions"): ("listPatientSessions", "A patient's session logs"),
    ("GET", "/v1/patients/{patient_id}/adherence"): ("getPatientAdherence", "A patient's adherence"),
    ("GET", "/v1/patients/{patient_id}/outcomes"): ("listPatientOutcomes", "A patient's outcomes"),
    # exercises
    ("GET", "/v1/exercises"): ("listExercises", "Search the exercise library"),
    ("POST", "/v1/exercises"): ("createExercise", "Add a clinic exercise"),
    ("GET", "/v1/exercises/{id_or_slug}"): ("getExercise", "Read an exercise"),
    ("PATCH", "/v1/exercises/{id_or_slug}"): ("updateExercise", "Change a clinic exercise"),
    ("DELETE", "/v1/exercises/{id_or_slug}"): ("archiveExercise", "Archive a clinic exercise"),
    ("GET", "/v1/exercises/{id_or_slug}/chain"): ("getExerciseChain", "An exercise's progression chain"),
    # programmes
    ("POST", "/v1/patients/{patient_id}/programmes"): ("createProgramme", "Create a programme"),
    ("GET", "/v1/programmes"): ("listProgrammes", "List programmes"),
    ("GET", "/v1/programmes/{programme_id}"): ("getProgramme", "Read a programme"),
    ("PUT", "/v1/programmes/{programme_id}"): ("replaceProgramme", "Replace a programme (If-Match)"),
    ("POST", "/v1/programmes/{programme_id}/activate"): ("activateProgramme", "Activate a programme"),
    ("POST", "/v1/programmes/{programme_id}/pause"): ("pauseProgramme", "Pause a programme"),
    ("POST", "/v1/programmes/{programme_id}/resume"): ("resumeProgramme", "Resume a programme"),
    ("POST", "/v1/programmes/{programme_id}/complete"): ("completeProgramme", "Complete a programme"),
    ("POST", "/v1/programmes/{programme_id}/cancel"): ("cancelProgramme", "Cancel a programme"),
    ("POST", "/v1/programmes/{programme_id}/items/{item_id}/reinstate"): (
        "reinstateProgrammeItem",
        "Reinstate a stopped exercise",
    ),
    ("GET", "/v1/programmes/{programme_id}/revisions"): ("listRevisions", "A programme's revisions"),
    ("GET", "/v1/programmes/{programme_id}/revisions/{number}"): ("getRevision", "One revision"),
    ("GET", "/v1/programmes/{programme_id}/suggestions"): ("listSuggestions", "Progression suggestions"),
    ("POST", "/v1/programmes/{programme_id}/evaluate"): ("evaluateProgramme", "Run the progression rules"),
    ("POST", "/v1/suggestions/{suggestion_id}/accept"): ("acceptSuggestion", "Accept a suggestion"),
    ("POST", "/v1/suggestions/{suggestion_id}/reject"): ("rejectSuggestion", "Reject a suggestion"),
    ("GET", "/v1/templates"): ("listTemplates", "List templates"),
    ("POST", "/v1/templates"): ("createTemplate", "Create a template"),
    ("GET", "/v1/templates/{template_id}"): ("getTemplate", "Read a template"),
    ("PUT", "/v1/templates/{template_id}"): ("replaceTemplate", "Replace a template"),
    ("DELETE", "/v1/templates/{template_id}"): ("deleteTemplate", "Delete a template"),
    # clinical
    ("GET", "/v1/alerts"): ("listAlerts", "Safety alerts, most urgent first"),
    ("POST", "/v1/alerts/{alert_id}/acknowledge"): ("acknowledgeAlert", "Acknowledge an alert"),
    ("POST", "/v1/alerts/{alert_id}/resolve"): ("resolveAlert", "Resolve an alert with a note"),
    # admin
    ("POST", "/v1/api-keys"): ("createApiKey", "Create an API key"),
    ("GET", "/v1/api-keys"): ("listApiKeys", "List API keys"),
    ("DELETE", "/v1/api-keys/{key_id}"): ("revokeApiKey", "Revoke an API key"),
    ("GET", "/v1/audit-events"): ("listAuditEvents", "The audit log"),
    # webhooks
    ("POST", "/v1/webhook-endpoints"): ("createWebhookEndpoint", "Subscribe an endpoint"),
    ("GET", "/v1/webhook-endpoints"): ("listWebhookEndpoints", "List webhook endpoints"),
    ("GET", "/v1/webhook-endpoints/{endpoint_id}"): ("getWebhookEndpoint", "Read a webhook endpoint"),
    ("PATCH", "/v1/webhook-endpoints/{endpoint_id}"): ("updateWebhookEndpoint", "Change an endpoint"),
    ("DELETE", "/v1/webhook-endpoints/{endpoint_id}"): ("deleteWebhookEndpoint", "Delete an endpoint"),
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/rotate-secret"): (
        "rotateWebhookSecret",
        "Rotate an endpoint's secret",
    ),
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/test"): ("sendTestEvent", "Send a test event"),
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/replay"): ("replayEvents", "Send events again"),
    ("GET", "/v1/webhook-endpoints/{endpoint_id}/deliveries"): ("listDeliveries", "The delivery log"),
    ("POST", "/v1/deliveries/{delivery_id}/retry"): ("retryDelivery", "Send a delivery again"),
    ("GET", "/v1/events"): ("listEvents", "The event feed"),
    # FHIR
    ("GET", "/fhir/r4/metadata"): ("fhirCapabilities", "The server's CapabilityStatement"),
    ("GET", "/fhir/r4/Patient/{patient_id}"): ("fhirReadPatient", "Read a patient as a FHIR Patient"),
    ("GET", "/fhir/r4/CarePlan/{programme_id}"): ("fhirReadCarePlan", "Read a programme as a CarePlan"),
    ("GET", "/fhir/r4/CarePlan"): ("fhirSearchCarePlans", "Search CarePlans by patient"),
    ("GET", "/fhir/r4/ActivityDefinition/{exercise_slug}"): (
        "fhirReadActivityDefinition",
        "Read an exercise as an ActivityDefinition",
    ),
    ("GET", "/fhir/r4/QuestionnaireResponse/{outcome_id}"): (
        "fhirReadQuestionnaireResponse",
        "Read an outcome response as a QuestionnaireResponse",
    ),
    ("GET", "/fhir/r4/QuestionnaireResponse"): (
        "fhirSearchQuestionnaireResponses",
        "Search QuestionnaireResponses by patient",
    ),
    ("GET", "/fhir/r4/Observation/{outcome_id}"): (
        "fhirReadObservation",
        "Read outcome scores as an Observation",
    ),
    ("GET", "/fhir/r4/Observation"): ("fhirSearchObservations", "Search Observations by patient and code"),
    ("GET", "/fhir/r4/Questionnaire/{questionnaire_id}"): ("fhirReadQuestionnaire", "Read a Questionnaire"),
}

TAGS = [
    {"name": "patient app", "description": "The patient's own view (patient token)."},
    {"name": "auth", "description": "Sign-in: OAuth2 for staff, enrolment codes for patients."},
    {"name": "users", "description": "The clinic's staff accounts (admin)."},
    {"name": "patients", "description": "Patients, and the EHR upsert by external id."},
    {"name": "exercises", "description": "The exercise library and the clinic's own exercises."},
    {"name": "programmes", "description": "Programmes, their lifecycle and revisions."},
    {"name": "templates", "description": "The clinic's reusable programmes."},
    {"name": "progression", "description": "Progression suggestions and the rules' evaluation."},
    {"name": "clinical", "description": "Adherence, outcomes and safety alerts."},
    {"name": "admin", "description": "API keys and the audit log."},
    {"name": "webhooks", "description": "Webhook endpoints, deliveries and the event feed."},
    {"name": "fhir", "description": "Read-only FHIR R4 for the clinic's EHR (docs/fhir.md)."},
    {"name": "operations", "description": "Health, readiness and metrics."},
    {"name": "media", "description": "Exercise drawings (SVG): the catalogue's public, a clinic's own not."},
    {"name": "handouts", "description": "Printable programme handouts (PDF) in the patient's language."},
    {"name": "progress", "description": "Progress charts (SVG) for the patient and staff."},
    {"name": "reminders", "description": "Reminder preferences, coming reminders and the calendar feed."},
    {"name": "monitoring", "description": "Staff interactions and remote-monitoring figures."},
]

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    STAFF: {
        "type": "oauth2",
        "description": "Clinic staff: OAuth2 password grant; the access token lasts 15 minutes.",
        "flows": {"password": {"tokenUrl": "/v1/auth/token", "refreshUrl": "/v1/auth/token", "scopes": {}}},
    },
    PATIENT: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The patient app: the access token from POST /v1/patient-auth/enrol.",
    },
    EHR: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "API key",
        "description": "The clinic's EHR: an API key starting with `hep_`, sent as a bearer token.",
    },
    "metricsToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The operator's HEP_METRICS_TOKEN; /metrics is open when none is set.",
    },
}

_PROBLEM = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_ERRORS = {
    "401": "No credential, or one that is not valid",
    "403": "This caller may not do this",
    "404": "No such resource in the caller's clinic",
    "422": "The request is not valid",
}


def _schemes(route: APIRoute) -> frozenset[str] | None:
    """The schemes every caller check on the route's way accepts; None for a public route."""
    schemes: frozenset[str] | None = None
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        accepted = CALLER_SCHEMES.get(dependency.call)
        if accepted is not None:
            schemes = accepted if schemes is None else schemes & accepted
        pending.extend(dependency.dependencies)
    return schemes


def _finish_operation(operation: dict[str, Any], route: APIRoute, method: str) -> None:
    operation_id, summary = OPERATIONS.get((method, route.path_format), (operation["operationId"], None))
    operation["operationId"] = operation_id
    if summary:
        operation["summary"] = summary
    operation.setdefault("description", operation["summary"])
    schemes = _schemes(route)
    operation["security"] = [{name: []} for name in sorted(schemes)] if schemes else []
    responses = operation.setdefault("responses", {})
    if "HTTPValidationError" in str(responses.get("422")):
        del responses["422"]  # FastAPI's own 422 body, which this service never sends
    has_input = "requestBody" in operation or operation.get("parameters")
    # A route that answers invalid input in its own shape (FHIR, OAuth2) declares its 400 and no 422.
    declared = {"422"} if has_input and "400" not in responses else set()
    if schemes and schemes != {"metricsToken"}:
        declared |= {"401", "403"}
    if route.param_convertors:
        declared.add("404")
    for status in sorted(declared):
        if status not in responses:
            responses[status] = {"description": _ERRORS[status], "content": _PROBLEM}
    for status, response in responses.items():
        if status[0] in "45" and "content" not in response:
            response["content"] = _PROBLEM
    if not any(status.startswith("4") for status in responses):
        responses["4XX"] = {"description": "The request cannot be answered (RFC 9457)", "content": _PROBLEM}
    responses.setdefault("default", {"description": "An error (RFC 9457)", "content": _PROBLEM})
    if "428" in responses:
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "header" and parameter["name"].lower() == "if-match":
                parameter["required"] = True
                parameter["schema"] = {"type": "string"}


def _webhooks(schemas: dict[str, Any]) -> dict[str, Any]:
    webhooks = {}
    for event_type, data_model in WEBHOOK_PAYLOADS.items():
        name = f"{data_model.__name__}Payload"
        if name not in schemas:
            payload = WebhookPayload[data_model]  # type: ignore[valid-type]
            schema = payload.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[name] = {**schema, "title": name}
        words = re.split(r"[._]", event_type)
        webhooks[event_type] = {
            "post": {
                "operationId": "on" + "".join(word.title() for word in words),
                "summary": f"The {event_type} event",
                "description": "Signed by Standard Webhooks (docs/webhooks.md); answer with any 2xx.",
                "tags": ["webhooks"],
                "security": [],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
                },
                "responses": {
                    "200": {"description": "Received (any 2xx)"},
                    "410": {"description": "Gone: the service disables the endpoint"},
                },
            }
        }
    return webhooks


def _refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["$ref"].rsplit("/", 1)[1]} if isinstance(value.get("$ref"), str) else set()
        return found.union(*(_refs(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(_refs(item) for item in value))
    return set()


def _reachable(start: set[str], schemas: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    pending = set(start)
    while pending:
        name = pending.pop()
        if name not in seen and name in schemas:
            seen.add(name)
            pending |= _refs(schemas[name])
    return seen


def _state_input_defaults(schema: dict[str, Any]) -> None:
    """In a schema only requests use, a default is what the service fills in when a field is left out:
    said in the description, not as `default`, which generators (openapi-typescript) read as "always
    present" and so make the field required to send."""
    schemas = schema["components"]["schemas"]
    operations = [op for item in schema["paths"].values() for op in item.values()]
    sent = _refs([{k: op.get(k) for k in ("requestBody", "parameters")} for op in operations])
    answered = _refs([op["responses"] for op in operations]) | _refs(schema.get("webhooks", {}))
    for name in _reachable(sent, schemas) - _reachable(answered, schemas):
        required = set(schemas[name].get("required", ()))
        for field, property_schema in schemas[name].get("properties", {}).items():
            if "default" in property_schema and field not in required:
                default = json.dumps(property_schema.pop("default"))
                note = f"Default when left out: {default}."
                property_schema["description"] = f"{property_schema.get('description', '')} {note}".strip()


def install_contract(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """Finish the document FastAPI builds from `routers` (those included in `app`), once, the first time
    it is asked for."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        # FastAPI documents its own 422 body, which this service never sends.
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(problem_schema.pop("$defs", {}))
        schemas["Problem"] = problem_schema
        components["securitySchemes"] = SECURITY_SCHEMES
        routes = {
            (method, route.path_format): route
            for router in routers
            for route in router.routes
            if isinstance(route, APIRoute) and route.include_in_schema
            for method in route.methods or ()
        }
        for path, path_item in schema.get("paths", {}).items():
            for method, operation in path_item.items():
                _finish_operation(operation, routes[(method.upper(), path)], method.upper())
        schema["tags"] = TAGS
        schema["webhooks"] = _webhooks(schemas)
        _state_input_defaults(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
