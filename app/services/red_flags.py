"""Red-flag triage as a table, and the instruction a patient reads: pure functions, no database.

Escalate, never reassure (clinical-content.md §3.1; IFOMPT 2020): every "yes" reaches a tier, the all-clear
is given only when every question was answered "no", and an unanswered question is "not assessed". History
the clinician screened (cancer, weak immunity, fracture risk, past major trauma) combines with new signs
and never raises an alert on its own. docs/clinical-rules.md shows RULES as a table with the sources;
tests/services/test_red_flags.py checks the table against it.
"""

from dataclasses import dataclass

from app.models.safety import TIER_ORDER, RedFlagAnswers, Tier
from app.models.safety_text import RED_FLAG_QUESTIONS, lines

# The screening record's history fields (app.models.patient) that rules may combine with.
HISTORY = ("history_cancer", "history_immunosuppression", "history_fracture_risk", "history_major_trauma")

CAUDA_EQUINA = frozenset(
    {"saddle_numbness", "bladder_change", "bowel_change", "sexual_dysfunction", "both_legs"}
)
# New signs that, with a cancer history, suggest metastatic spinal cord compression (LOTHIAN-RD).
NEW_NEUROLOGICAL = frozenset(
    {"leg_weakness_worsening", "walking_difficulty", "new_nerve_pain", "arm_symptoms", "symptoms_spreading"}
)
SERIOUS_PAIN = frozenset({"severe_or_worsening_pain", "upper_back_pain"})


@dataclass(frozen=True)
class Rule:
    tier: Tier
    reason: str
    any_of: frozenset[str]  # at least one of these answered "yes"…
    with_any: frozenset[str] = frozenset()  # …and, when set, one of these "yes" or on the history
    source: str = ""


RULES: tuple[Rule, ...] = (
    Rule("emergency", "suspected_cauda_equina", CAUDA_EQUINA, source="GIRFT CES pathway; CSP-GIRFT; BACKES"),
    Rule(
        "emergency",
        "suspected_spinal_cord_compression",
        NEW_NEUROLOGICAL | SERIOUS_PAIN,
        frozenset({"history_cancer"}),
        source="NICE NG234; LOTHIAN-RD",
    ),
    Rule("emergency", "major_trauma", frozenset({"major_trauma"}), source="IFOMPT20; RCEM"),
    Rule(
        "emergency",
        "suspected_aortic_aneurysm",
        frozenset({"pulsing_belly_pain"}),
        source="IFOMPT20; RCEM; WIKEM",
    ),
    Rule(
        "urgent",
        "progressive_neurological_deficit",
        frozenset({"leg_weakness_worsening", "walking_difficulty"}),
        source="LOTHIAN; IFOMPT20",
    ),
    Rule("urgent", "possible_myelopathy", frozenset({"arm_symptoms"}), source="HEY; RCEM"),
    Rule("urgent", "severe_or_thoracic_pain", SERIOUS_PAIN, source="IFOMPT20; CKS-RF"),
    Rule("urgent", "possible_infection", frozenset({"fever_or_unwell"}), source="LOTHIAN; HEY"),
    Rule(
        "urgent",
        "possible_infection",
        SERIOUS_PAIN | {"night_pain"},
        frozenset({"history_immunosuppression"}),
        source="LOTHIAN; HEY; CHIROMT",
    ),
    Rule("urgent", "possible_malignancy", frozenset({"weight_loss"}), source="CKS-RF; DOWNIE13"),
    Rule(
        "urgent",
        "possible_malignancy",
        frozenset({"night_pain", "no_improvement_month"}),
        frozenset({"history_cancer", "weight_loss", "fever_or_unwell"}),
        source="IFOMPT20; DOWNIE13; FTPT",
    ),
    # Any fall or knock is a possible fracture for someone at risk (osteoporosis, long-term steroids).
    Rule(
        "urgent",
        "possible_fracture",
        frozenset({"minor_fall"}),
        frozenset({"history_fracture_risk"}),
        source="WIKEM; DOWNIE13; DOCSLIB",
    ),
    # Severe pain is urgent anyway: this only names the likely cause for the clinician.
    Rule(
        "urgent",
        "possible_fracture",
        frozenset({"severe_or_worsening_pain"}),
        frozenset({"history_fracture_risk", "history_major_trauma"}),
        source="WIKEM; DOWNIE13",
    ),
    Rule("routine", "fall_review", frozenset({"minor_fall"}), source="WIKEM; DOWNIE13"),
    Rule("routine", "new_nerve_root_pain", frozenset({"new_nerve_pain"}), source="NICE59; CKS-RF"),
    Rule("routine", "night_pain_review", frozenset({"night_pain"}), source="IFOMPT20"),
    Rule("routine", "no_improvement_review", frozenset({"no_improvement_month"}), source="IFOMPT20; FTPT"),
    Rule("routine", "possible_inflammatory_pain", frozenset({"morning_stiffness"}), source="HEY; WIKEM"),
    Rule(
        "routine",
        "persistent_peripheralisation",
        frozenset({"symptoms_spreading"}),
        source="clinical-content.md §3.3 rule 1; MDTHER",
    ),
    Rule("routine", "symptoms_not_easing", frozenset({"not_easing_three_days"}), source="FUSION; [D]"),
)


@dataclass(frozen=True)
class Assessment:
    tier: Tier | None
    reasons: list[str]  # most serious first
    not_assessed: list[str]  # questions in the order the app asks them

    @property
    def complete(self) -> bool:
        return not self.not_assessed


@dataclass(frozen=True)
class Outcome:
    """What storing the check-in actually did: the instruction only claims what happened."""

    recorded: bool = False
    programme_paused: bool = False
    alert_raised: bool = False


def assess(answers: RedFlagAnswers, history: frozenset[str] = frozenset()) -> Assessment:
    given = answers.model_dump()
    said = {key for key, value in given.items() if value is True}
    facts = said | history
    fired = [rule for rule in RULES if rule.any_of & said and (not rule.with_any or rule.with_any & facts)]
    by_tier = {tier: [rule.reason for rule in fired if rule.tier == tier] for tier in TIER_ORDER}
    reasons = list(dict.fromkeys(reason for tier in TIER_ORDER for reason in by_tier[tier]))
    tier = next((tier for tier in TIER_ORDER if by_tier[tier]), None)
    not_assessed = [key for key in RED_FLAG_QUESTIONS if given.get(key) is None]
    return Assessment(tier, reasons, not_assessed)


def tier_lines(tier: Tier, reasons: list[str]) -> list[str]:
    """What to do, for a tier (the line keys, without what happened)."""
    if tier == "emergency":
        return ["go_to_emergency", "do_not_wait", "show_this_screen", "stop_exercises"]
    if tier == "urgent":
        return ["call_clinic_today", "if_no_answer_today", "stop_exercises", "emergency_signs_go_now"]
    spreading = {"persistent_peripheralisation", "new_nerve_root_pain"} & set(reasons)
    first = "stop_what_spreads" if spreading else "keep_going_unless_worse"
    return [first, *(["call_your_physio"] if "symptoms_not_easing" in reasons else [])]


def outcome_lines(tier: Tier, outcome: Outcome) -> list[str]:
    said = ["programme_paused"] if outcome.programme_paused else []
    if not (outcome.recorded and outcome.alert_raised):
        return [*said, "clinic_not_told"]
    return [*said, "physio_told" if tier == "routine" else "clinic_told"]


def instruction(assessment: Assessment, outcome: Outcome, locale: str) -> list[str]:
    if assessment.tier is None:
        keys = ["none_reported", "check_again"] if assessment.complete else ["not_all_answered"]
        return lines([*keys, *([] if assessment.complete else ["answer_every_question"])], locale)
    keys = [*tier_lines(assessment.tier, assessment.reasons), *outcome_lines(assessment.tier, outcome)]
    return lines([*keys, *([] if assessment.complete else ["answer_the_rest"])], locale)


def hold_lines(tier: Tier, locale: str) -> list[str]:
    """The programme is on a safety hold, perhaps for days: say so, and what to do if nobody has checked the
    patient yet (not "go now" again, which was right on the day of the alert)."""
    return lines(["on_hold", "hold_emergency" if tier == "emergency" else "hold_urgent"], locale)
