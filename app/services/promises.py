"""Every sentence a patient reads that promises an action, and the rule that keeps it.

docs/clinical-rules.md ("Promises the patient reads") shows this as a table with the test of each;
tests/models/test_catalogue_files.py (test_stop_rules_promise_only_what_is_built) fails when a stop rule
used in exercises/ has no entry here, or when an entry's rule does not do what the sentence says.

A stop rule is kept by a colour rule (`red:<reason>`: the session is red, so the exercise is stopped and the
physio is told, app.services.sessions), by the next-morning rule (`next_morning:<reason>`), or it promises
nothing on the service's side (`patient`: an instruction to the patient only).
"""

STOP_RULES_KEPT_BY: dict[str, str] = {
    "leg_symptoms_spread": "red:leg_symptoms_spread",
    "new_numbness_or_weakness": "red:new_numbness_or_weakness",
    "pain_above_5": "red:pain_above_5",
    "leg_pain_above_3": "red:leg_pain_above_3",
    # "Stop if it lingers or spreads, or if your leg or foot feels newly numb or weak": the app reports the
    # spread (leg extent) and the numbness or weakness; both turn the session red.
    "nerve_glide_symptoms": "red:new_numbness_or_weakness",
    "worse_next_morning": "next_morning:worse_next_morning_twice",
    "dizziness_chest_pain_breathless": "patient",
}

# Lines of app.models.safety_text that say the service did something: shown only when it did.
LINES_KEPT_BY: dict[str, str] = {
    "programme_paused": "red_flags.outcome_lines, symptom_response.notice: only when the programme was "
    "paused by this request or is paused",
    "clinic_told": "red_flags.outcome_lines: only when the alert was stored (recorded and alert_raised)",
    "physio_told": "red_flags.outcome_lines, symptom_response.notice, next_morning.report: only with a "
    "stored alert",
    "exercise_stopped_why": "symptom_response.on_red suspends the item; only a clinician reinstates it",
    "on_hold": "holds.ensure_no_hold: resume and activate are refused until a clinician resolves the alert",
}
