"""Outcome measures as FHIR R4: each response as a QuestionnaireResponse (the item answers), its scores as
one Observation, and a Questionnaire for the instruments whose text is free to ship (NPRS, PSFS).

ODI and STarT Back wording is licensed, and RMDQ's terms for electronic use are not verified
(clinical-content.md §4): their responses name the instrument by its canonical URL and carry the item
answers under the instrument's own item numbers, with no text. Pure functions to JSON-ready dicts, as in
app/fhir.py; the mapping is documented in docs/fhir.md.
"""

from collections.abc import Iterable
from typing import Any, get_args

from app.fhir import UCUM, Canonicals, drop_none, instant
from app.models.outcome import Instrument, OutcomeResponse

LOINC = "http://loinc.org"
# Verified LOINC codes only; every score also carries the service's own code (docs/fhir.md).
PAIN_SEVERITY = {
    "system": LOINC,
    "code": "72514-3",
    "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
}
SURVEY = {
    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
    "code": "survey",
    "display": "Survey",
}
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
MAX_OCCURS = "http://hl7.org/fhir/StructureDefinition/questionnaire-maxOccurs"
# When the shipped Questionnaires last changed.
QUESTIONNAIRES_DATE = "2026-12-03"

SCORE_DISPLAY = {
    "nprs": "Pain, numeric rating scale (NPRS 0–10)",
    "nprs-back": "Back pain (NPRS 0–10)",
    "nprs-leg": "Leg pain (NPRS 0–10)",
    "psfs": "Patient-Specific Functional Scale, mean (0–10)",
    "psfs-activity": "Patient-Specific Functional Scale, one activity (0–10)",
    "odi": "Oswestry Disability Index (%)",
    "rmdq": "Roland-Morris Disability Questionnaire (0–24)",
    "startback": "Keele STarT Back Screening Tool, total (0–9)",
    "startback-distress": "Keele STarT Back Screening Tool, distress subscale (0–5)",
}
RECALL_DISPLAY = {
    "now": "Pain now",
    "worst_24h": "Worst pain in the last 24 hours",
    "average_24h": "Average pain in the last 24 hours",
}
RISK_DISPLAY = {"low": "Low risk", "medium": "Medium risk", "high": "High risk"}
BOTHERSOME_DISPLAY = {
    "not_at_all": "Not at all",
    "slightly": "Slightly",
    "moderately": "Moderately",
    "very_much": "Very much",
    "extremely": "Extremely",
}


def _system(urls: Canonicals, name: str) -> str:
    return f"{urls.base}/CodeSystem/{name}"


def questionnaire_url(urls: Canonicals, instrument: str) -> str:
    """Every instrument's canonical, shipped or not: it names the instrument a response answers."""
    return f"{urls.base}/Questionnaire/{instrument}"


def _coding(urls: Canonicals, system: str, code: str, displays: dict[str, str]) -> dict[str, Any]:
    return {"system": _system(urls, system), "code": code, "display": displays[code]}


def score_coding(urls: Canonicals, code: str) -> dict[str, Any]:
    return _coding(urls, "outcome-score", code, SCORE_DISPLAY)


def _answer(item: str, **value: Any) -> dict[str, Any]:
    return {"linkId": item, "answer": [value]}


def _items(urls: Canonicals, row: OutcomeResponse) -> list[dict[str, Any]]:
    """The item answers; licensed instruments are numbered as in the instrument (ODI v2.1a sections, RMDQ
    statements, Keele's STarT Back items). An unanswered ODI section has no item."""
    answers = row.answers
    if row.instrument == "nprs":
        recall = _coding(urls, "nprs-recall", answers["recall"], RECALL_DISPLAY)
        sites = [
            _answer(site, valueInteger=answers[site])
            for site in ("back", "leg")
            if answers.get(site) is not None
        ]
        return [_answer("recall", valueCoding=recall), *sites]
    if row.instrument == "psfs":
        return [
            {
                "linkId": "activity",
                "item": [
                    _answer("activity.name", valueString=activity["activity"]),
                    _answer("activity.score", valueInteger=activity["score"]),
                ],
            }
            for activity in answers["activities"]
        ]
    if row.instrument == "odi":
        sections = enumerate(answers["sections"], 1)
        return [_answer(str(number), valueInteger=value) for number, value in sections if value is not None]
    ticked = [_answer(str(number), valueBoolean=value) for number, value in enumerate(answers["items"], 1)]
    if row.instrument == "rmdq":
        return ticked
    bothersome = _coding(urls, "startback-bothersome", answers["bothersome"], BOTHERSOME_DISPLAY)
    return [*ticked, _answer("9", valueCoding=bothersome)]


def questionnaire_response(row: OutcomeResponse, urls: Canonicals) -> dict[str, Any]:
    """One outcome response as the patient gave it; the patient is its author and source."""
    patient = {"reference": f"Patient/{row.patient_id}"}
    return {
        "resourceType": "QuestionnaireResponse",
        "id": str(row.id),
        "meta": {"lastUpdated": instant(row.created_at)},
        "questionnaire": questionnaire_url(urls, row.instrument),
        "status": "completed",
        "subject": patient,
        "authored": instant(row.taken_at),
        "author": patient,
        "source": patient,
        "item": _items(urls, row),
    }


def _score_value(urls: Canonicals, row: OutcomeResponse) -> dict[str, Any]:
    """The Observation's value and what qualifies it: components, method, interpretation."""
    scores = row.scores
    if row.instrument == "nprs":
        return {
            "method": {"coding": [_coding(urls, "nprs-recall", row.answers["recall"], RECALL_DISPLAY)]},
            "component": [
                {
                    "code": {"coding": [PAIN_SEVERITY, score_coding(urls, f"nprs-{site}")]},
                    "valueInteger": scores[site],
                }
                for site in ("back", "leg")
                if site in scores
            ],
        }
    if row.instrument == "psfs":
        activity = score_coding(urls, "psfs-activity")
        return {
            "valueQuantity": {"value": scores["mean"], "unit": "score", "system": UCUM, "code": "{score}"},
            "component": [
                {"code": {"coding": [activity], "text": name}, "valueInteger": value}
                for name, value in scores["by_activity"].items()
            ],
        }
    if row.instrument == "odi":
        return {"valueQuantity": {"value": scores["percent"], "unit": "%", "system": UCUM, "code": "%"}}
    if row.instrument == "rmdq":
        return {"valueInteger": scores["score"]}
    return {
        "valueInteger": scores["total"],
        "interpretation": [{"coding": [_coding(urls, "startback-risk", scores["risk"], RISK_DISPLAY)]}],
        "component": [
            {
                "code": {"coding": [score_coding(urls, "startback-distress")]},
                "valueInteger": scores["distress"],
            }
        ],
    }


def observation(row: OutcomeResponse, urls: Canonicals) -> dict[str, Any]:
    """The scores of one response as one Observation (the NPRS sites as components, as blood pressure's
    two readings are), derived from the response's QuestionnaireResponse."""
    patient = {"reference": f"Patient/{row.patient_id}"}
    coding = score_coding(urls, row.instrument)
    return drop_none(
        {
            "resourceType": "Observation",
            "id": str(row.id),
            "meta": {"lastUpdated": instant(row.created_at)},
            "status": "final",
            "category": [{"coding": [SURVEY]}],
            "code": {"coding": [coding], "text": coding["display"]},
            "subject": patient,
            "effectiveDateTime": instant(row.taken_at),
            "issued": instant(row.created_at),
            "performer": [patient],
            **_score_value(urls, row),
            "derivedFrom": [{"reference": f"QuestionnaireResponse/{row.id}"}],
        }
    )


def instruments_with_code(urls: Canonicals, token: str) -> set[str]:
    """The instruments whose Observation.code matches a FHIR token search (`code`, `system|code` or
    `system|`; a comma between them means any of them)."""
    found = set()
    for one in token.split(","):
        system, bar, code = one.rpartition("|")
        for instrument in get_args(Instrument):
            coding = score_coding(urls, instrument)
            if (not bar or coding["system"] == system) and code in ("", coding["code"]):
                found.add(instrument)
    return found


def _scale(link_id: str, text: str, top: int, **more: Any) -> dict[str, Any]:
    """An integer item from 0 to `top`."""
    limits = [{"url": MIN_VALUE, "valueInteger": 0}, {"url": MAX_VALUE, "valueInteger": top}]
    return {"extension": limits, "linkId": link_id, "text": text, "type": "integer", **more}


def _choices(urls: Canonicals, system: str, displays: dict[str, str]) -> list[dict[str, Any]]:
    return [{"valueCoding": _coding(urls, system, code, displays)} for code in displays]


def _nprs_items(urls: Canonicals) -> list[dict[str, Any]]:
    pain = "pain, from 0 (no pain) to 10 (the worst pain you can imagine)"
    return [
        {
            "linkId": "recall",
            "text": "Which pain are you rating?",
            "type": "choice",
            "required": True,
            "answerOption": _choices(urls, "nprs-recall", RECALL_DISPLAY),
        },
        _scale("back", f"Your back {pain}", 10, code=[PAIN_SEVERITY]),
        _scale("leg", f"Your leg {pain}", 10, code=[PAIN_SEVERITY]),
    ]


def _psfs_items() -> list[dict[str, Any]]:
    return [
        {
            "extension": [{"url": MAX_OCCURS, "valueInteger": 5}],
            "linkId": "activity",
            "text": "An activity that matters to you and that your back problem makes hard to do",
            "type": "group",
            "required": True,
            "repeats": True,
            "item": [
                {
                    "linkId": "activity.name",
                    "text": "The activity",
                    "type": "string",
                    "required": True,
                    "maxLength": 120,
                },
                _scale(
                    "activity.score",
                    "How well you can do it now: 0 = unable to do it, 10 = as well as before the problem",
                    10,
                    required=True,
                ),
            ],
        }
    ]


def _shipped(urls: Canonicals) -> dict[str, dict[str, Any]]:
    return {
        "nprs": {
            "title": "Numeric Pain Rating Scale, back and leg",
            "description": "Back pain, leg pain or both, each 0–10, over one recall period; change is only "
            "computed between responses with the same recall period. A generic scale with no known licensor.",
            "item": _nprs_items(urls),
        },
        "psfs": {
            "title": "Patient-Specific Functional Scale",
            "description": "Up to five activities the patient names, each rated 0–10; the score is their "
            "mean. At follow-up the patient re-rates the activities named at baseline.",
            "copyright": "Stratford, Gill, Westaway & Binkley, Physiotherapy Canada 1995;47:258–263. Free to "
            "use; the wording here is the service's own.",
            "item": _psfs_items(),
        },
    }


def questionnaire(instrument: str, urls: Canonicals) -> dict[str, Any] | None:
    """The Questionnaire of an instrument whose text is free to ship, else None (ODI, RMDQ, STarT Back)."""
    shipped = _shipped(urls).get(instrument)
    if shipped is None:
        return None
    return {
        "resourceType": "Questionnaire",
        "id": instrument,
        "url": questionnaire_url(urls, instrument),
        "name": instrument.upper(),
        "status": "active",
        "subjectType": ["Patient"],
        "date": QUESTIONNAIRES_DATE,
        "publisher": "Home-exercise prescription service",
        **shipped,
    }


def resources(rows: Iterable[OutcomeResponse], kind: str, urls: Canonicals) -> list[dict[str, Any]]:
    """Outcome responses as QuestionnaireResponses or as Observations."""
    mapping = questionnaire_response if kind == "QuestionnaireResponse" else observation
    return [mapping(row, urls) for row in rows]
