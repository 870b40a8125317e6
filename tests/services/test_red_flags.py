"""Red-flag triage as a table: every question alone and the key combinations, the escalate-never-reassure
and never-lower properties, and the patient wording (every locale, plain English at reading grade 6 or
below, line by line)."""

import re
from pathlib import Path

import pytest
import textstat
from hypothesis import given
from hypothesis import strategies as st

from app.models.catalogue_files import load_catalogue
from app.models.safety import TIER_ORDER, RedFlagAnswers
from app.models.safety_text import EMERGENCY_WARNING, LINES, RED_FLAG_QUESTIONS, emergency_warning, lines
from app.services import red_flags
from app.services.red_flags import RULES, Outcome

QUESTIONS = list(RED_FLAG_QUESTIONS)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "clinical-rules.md"
DONE = Outcome(recorded=True, programme_paused=True, alert_raised=True)


def all_no(**yes: bool) -> RedFlagAnswers:  # type: ignore[valid-type]
    return RedFlagAnswers(**{key: False for key in QUESTIONS} | yes)


# Every question answered "yes" alone (all others "no"), with no history on record.
ALONE = {
    "saddle_numbness": ("emergency", "suspected_cauda_equina"),
    "bladder_change": ("emergency", "suspected_cauda_equina"),
    "bowel_change": ("emergency", "suspected_cauda_equina"),
    "sexual_dysfunction": ("emergency", "suspected_cauda_equina"),
    "both_legs": ("emergency", "suspected_cauda_equina"),
    "major_trauma": ("emergency", "major_trauma"),
    "pulsing_belly_pain": ("emergency", "suspected_aortic_aneurysm"),
    "leg_weakness_worsening": ("urgent", "progressive_neurological_deficit"),
    "walking_difficulty": ("urgent", "progressive_neurological_deficit"),
    "arm_symptoms": ("urgent", "possible_myelopathy"),
    "severe_or_worsening_pain": ("urgent", "severe_or_thoracic_pain"),
    "upper_back_pain": ("urgent", "severe_or_thoracic_pain"),
    "fever_or_unwell": ("urgent", "possible_infection"),
    "weight_loss": ("urgent", "possible_malignancy"),
    "night_pain": ("routine", "night_pain_review"),
    "no_improvement_month": ("routine", "no_improvement_review"),
    "minor_fall": ("routine", "fall_review"),
    "new_nerve_pain": ("routine", "new_nerve_root_pain"),
    "morning_stiffness": ("routine", "possible_inflammatory_pain"),
    "symptoms_spreading": ("routine", "persistent_peripheralisation"),
    "not_easing_three_days": ("routine", "symptoms_not_easing"),
}

# (yes answers, history on the screening record) → (tier, the reason only the combination gives)
COMBINATIONS = [
    (("walking_difficulty",), ("history_cancer",), "emergency", "suspected_spinal_cord_compression"),
    (("new_nerve_pain",), ("history_cancer",), "emergency", "suspected_spinal_cord_compression"),
    (("upper_back_pain",), ("history_cancer",), "emergency", "suspected_spinal_cord_compression"),
    (("severe_or_worsening_pain",), ("history_cancer",), "emergency", "suspected_spinal_cord_compression"),
    (("leg_weakness_worsening",), ("history_cancer",), "emergency", "suspected_spinal_cord_compression"),
    (("arm_symptoms",), ("history_cancer",), "emergency", "suspected_spinal_cord_compression"),
    (("symptoms_spreading",), ("history_cancer",), "emergency", "suspected_spinal_cord_compression"),
    (("night_pain",), ("history_cancer",), "urgent", "possible_malignancy"),
    (("no_improvement_month",), ("history_cancer",), "urgent", "possible_malignancy"),
    (("night_pain", "weight_loss"), (), "urgent", "possible_malignancy"),
    (("no_improvement_month", "fever_or_unwell"), (), "urgent", "possible_malignancy"),
    (("minor_fall",), ("history_fracture_risk",), "urgent", "possible_fracture"),
    (("severe_or_worsening_pain",), ("history_fracture_risk",), "urgent", "possible_fracture"),
    (("severe_or_worsening_pain",), ("history_major_trauma",), "urgent", "possible_fracture"),
    (("severe_or_worsening_pain",), ("history_immunosuppression",), "urgent", "possible_infection"),
    (("upper_back_pain",), ("history_immunosuppression",), "urgent", "possible_infection"),
    (("night_pain",), ("history_immunosuppression",), "urgent", "possible_infection"),
    (("saddle_numbness", "morning_stiffness"), (), "emergency", "suspected_cauda_equina"),
    # A small fall with an old major trauma on record is still a small fall.
    (("minor_fall",), ("history_major_trauma",), "routine", "fall_review"),
    # History alone never raises anything: it waits for a new sign.
    ((), ("history_cancer", "history_immunosuppression", "history_fracture_risk", "history_major_trauma"),
     None, None),
]  # fmt: skip


def test_every_question_has_a_row_in_this_table():
    assert set(ALONE) == set(QUESTIONS)


@pytest.mark.parametrize("locale", ["en", "es"])
@pytest.mark.parametrize("question", QUESTIONS)
def test_every_question_alone_reaches_its_tier_and_instruction(question, locale):
    tier, reason = ALONE[question]
    assessment = red_flags.assess(all_no(**{question: True}))
    assert (assessment.tier, assessment.reasons[0]) == (tier, reason)
    assert assessment.complete
    told = red_flags.instruction(assessment, DONE, locale)
    first = {"emergency": "go_to_emergency", "urgent": "call_clinic_today"}.get(tier)
    if first:
        assert told[0] == lines([first], locale)[0]
        assert lines(["stop_exercises", "programme_paused", "clinic_told"], locale) == [
            line
            for line in told
            if line in lines(["stop_exercises", "programme_paused", "clinic_told"], locale)
        ]
    else:
        assert lines(["physio_told"], locale)[0] in told
    assert lines(["none_reported"], locale)[0] not in told


@pytest.mark.parametrize(("yes", "history", "tier", "reason"), COMBINATIONS)
def test_combinations_with_the_screened_history(yes, history, tier, reason):
    assessment = red_flags.assess(all_no(**dict.fromkeys(yes, True)), frozenset(history))
    assert assessment.tier == tier
    if reason is None:
        assert assessment.reasons == []
    else:
        assert reason in assessment.reasons, assessment.reasons


def test_every_combination_rule_decides_a_row_of_the_table(monkeypatch):
    """Deleting any rule that needs a second sign or history changes what some combination row expects."""

    def outcomes() -> list[tuple[str | None, set[str]]]:
        answers = [
            (all_no(**dict.fromkeys(yes, True)), frozenset(history)) for yes, history, *_ in COMBINATIONS
        ]
        return [(a.tier, set(a.reasons)) for a in (red_flags.assess(*row) for row in answers)]

    expected = outcomes()
    for rule in (rule for rule in RULES if rule.with_any):
        monkeypatch.setattr(red_flags, "RULES", tuple(other for other in RULES if other is not rule))
        assert outcomes() != expected, f"no combination row depends on {rule}"
    monkeypatch.undo()


@pytest.mark.parametrize("question", ["symptoms_spreading", "new_nerve_pain"])
def test_spreading_symptoms_and_new_nerve_pain_are_never_told_to_carry_on(question):
    assessment = red_flags.assess(all_no(**{question: True}))
    assert assessment.tier == "routine"
    for locale in ("en", "es"):
        told = red_flags.instruction(assessment, DONE, locale)
        assert told[0] == lines(["stop_what_spreads"], locale)[0]
        assert lines(["keep_going_unless_worse"], locale)[0] not in told


def test_a_flare_up_not_easing_says_call_your_physio():
    not_easing = red_flags.instruction(red_flags.assess(all_no(not_easing_three_days=True)), DONE, "en")
    assert "Call your physio to talk about it." in not_easing


def test_unanswered_questions_are_not_assessed_and_never_the_all_clear():
    assessment = red_flags.assess(RedFlagAnswers(saddle_numbness=False))
    assert assessment.tier is None and not assessment.complete
    assert assessment.not_assessed == QUESTIONS[1:]
    told = red_flags.instruction(assessment, Outcome(), "en")
    assert told == lines(["not_all_answered", "answer_every_question"], "en")
    partial = red_flags.assess(RedFlagAnswers(bowel_change=True))
    told = red_flags.instruction(partial, DONE, "en")
    assert partial.tier == "emergency" and told[-1] == lines(["answer_the_rest"], "en")[0]


def test_the_all_clear_needs_every_answer_no():
    assessment = red_flags.assess(all_no())
    assert assessment.tier is None and assessment.complete
    assert red_flags.instruction(assessment, Outcome(), "en") == lines(["none_reported", "check_again"], "en")


@given(
    st.fixed_dictionaries({}, optional={key: st.one_of(st.none(), st.booleans()) for key in QUESTIONS}),
    st.sets(st.sampled_from(red_flags.HISTORY)),
)
def test_any_yes_reaches_a_tier_and_never_the_all_clear(answers, history):
    assessment = red_flags.assess(RedFlagAnswers(**answers), frozenset(history))
    told = red_flags.instruction(assessment, Outcome(), "en")
    if any(value is True for value in answers.values()):
        assert assessment.tier is not None and assessment.reasons
        assert lines(["clinic_not_told"], "en")[0] in told  # nothing stored: never "told" or "paused"
        assert not set(told) & set(lines(["clinic_told", "physio_told", "programme_paused"], "en"))
    if lines(["none_reported"], "en")[0] in told:
        assert all(answers.get(key) is False for key in QUESTIONS)


def rank(tier: str | None) -> int:
    """Lower is more serious; no tier is the least."""
    return TIER_ORDER.index(tier) if tier is not None else len(TIER_ORDER)


@given(
    st.fixed_dictionaries({}, optional={key: st.one_of(st.none(), st.booleans()) for key in QUESTIONS}),
    st.sets(st.sampled_from(red_flags.HISTORY)),
    st.sampled_from([*QUESTIONS, *red_flags.HISTORY]),
)
def test_another_yes_or_history_item_never_lowers_the_tier(answers, history, added):
    before = red_flags.assess(RedFlagAnswers(**answers), frozenset(history))
    if added in red_flags.HISTORY:
        after = red_flags.assess(RedFlagAnswers(**answers), frozenset(history) | {added})
    else:
        after = red_flags.assess(RedFlagAnswers(**answers | {added: True}), frozenset(history))
    assert rank(after.tier) <= rank(before.tier)
    assert set(before.reasons) <= set(after.reasons)


def test_the_instruction_only_claims_what_happened():
    assessment = red_flags.assess(all_no(fever_or_unwell=True))
    stored_not_paused = red_flags.instruction(assessment, Outcome(recorded=True, alert_raised=True), "en")
    assert "Your exercise programme is paused." not in stored_not_paused
    assert "Your clinic has been told." in stored_not_paused
    assert stored_not_paused[0] == "Call your clinic today."
    failed = red_flags.instruction(assessment, Outcome(), "en")
    assert "We could not tell your clinic. Call them now." in failed
    assert "Your clinic has been told." not in failed


def catalogue_locales() -> set[str]:
    return {locale for chain in load_catalogue() for exercise in chain.exercises for locale in exercise.text}


def test_every_safety_text_exists_in_every_catalogue_locale():
    locales = catalogue_locales()
    assert {"en", "es"} <= locales
    for key, texts in [*RED_FLAG_QUESTIONS.items(), *LINES.items()]:
        assert locales <= set(texts), key
    assert locales <= set(EMERGENCY_WARNING)
    assert {len(EMERGENCY_WARNING[locale]) for locale in locales} == {len(EMERGENCY_WARNING["en"])}


def told(question: str, outcome: Outcome = DONE) -> list[str]:
    return red_flags.instruction(red_flags.assess(all_no(**{question: True})), outcome, "en")


def grade(text_lines: list[str]) -> float:
    return textstat.flesch_kincaid_grade(
        " ".join(line if line.endswith((".", "?", ":")) else f"{line}." for line in text_lines)
    )


@pytest.mark.parametrize(
    "text_lines",
    [
        pytest.param(emergency_warning("en"), id="emergency-warning"),
        pytest.param(told("bladder_change"), id="emergency"),
        pytest.param(told("bladder_change", Outcome()), id="emergency-unrecorded"),
        pytest.param(told("walking_difficulty"), id="urgent"),
        pytest.param(told("walking_difficulty", Outcome()), id="urgent-unrecorded"),
        pytest.param(red_flags.hold_lines("emergency", "en"), id="hold-emergency"),
        pytest.param(red_flags.hold_lines("urgent", "en"), id="hold-urgent"),
        pytest.param([RED_FLAG_QUESTIONS[key]["en"] for key in QUESTIONS], id="questions"),
    ],
)  # fmt: skip
def test_english_safety_text_reads_at_grade_6_or_below(text_lines):
    assert grade(text_lines) <= 6, (grade(text_lines), text_lines)


# Every line an emergency or urgent instruction can hold (with what happened, or did not), and the hold's.
INSTRUCTION_KEYS = list(
    dict.fromkeys(
        [
            *red_flags.tier_lines("emergency", []),
            *red_flags.tier_lines("urgent", []),
            "programme_paused",
            "clinic_told",
            "clinic_not_told",
            "answer_the_rest",
            "on_hold",
            "hold_emergency",
            "hold_urgent",
        ]
    )
)


@pytest.mark.parametrize(
    "line",
    [
        *(pytest.param(line, id=f"warning-{n}") for n, line in enumerate(emergency_warning("en"))),
        *(pytest.param(LINES[key]["en"], id=key) for key in INSTRUCTION_KEYS),
    ],
)
def test_each_english_safety_line_reads_at_grade_6_or_below(line):
    assert grade([line]) <= 6, (grade([line]), line)


def test_the_instructions_and_holds_are_made_of_the_graded_lines():
    graded = set(lines(INSTRUCTION_KEYS, "en"))
    for question in ("bladder_change", "walking_difficulty"):
        assessment = red_flags.assess(RedFlagAnswers(**{question: True}))  # incomplete: "answer the rest"
        for outcome in (DONE, Outcome(), Outcome(recorded=True, alert_raised=True)):
            assert set(red_flags.instruction(assessment, outcome, "en")) <= graded
    for tier in ("emergency", "urgent"):
        assert set(red_flags.hold_lines(tier, "en")) <= graded


@pytest.mark.parametrize("locale", ["en", "es"])
def test_a_hold_says_paused_and_what_to_do_if_nobody_has_checked_yet(locale):
    """A hold is shown for days: it does not repeat "go now" as if the alert had just been raised."""
    assert red_flags.hold_lines("emergency", locale) == lines(["on_hold", "hold_emergency"], locale)
    assert red_flags.hold_lines("urgent", locale) == lines(["on_hold", "hold_urgent"], locale)
    assert lines(["go_to_emergency"], locale)[0] not in red_flags.hold_lines("emergency", locale)
    assert red_flags.hold_lines("urgent", "en") == [
        "Your programme is paused until your physio has checked you.",
        "If nobody has checked you yet, call your clinic today.",
    ]


def test_spanish_says_paused_one_way_and_keeps_urgent_care_apart_from_the_emergency_department():
    spanish = [texts["es"] for texts in [*RED_FLAG_QUESTIONS.values(), *LINES.values()]]
    spanish += EMERGENCY_WARNING["es"]
    assert not [text for text in spanish if "en espera" in text]
    assert "en pausa" in LINES["programme_paused"]["es"] and "en pausa" in LINES["on_hold"]["es"]
    # "urgencias" is the emergency department: the urgent line sends the patient elsewhere.
    assert "urgencias" not in LINES["if_no_answer_today"]["es"]
    assert "urgencias" in LINES["go_to_emergency"]["es"]


def test_questions_are_worded_so_that_yes_is_the_sign():
    """A negative question ("has it not got better?") leaves a "no" meaning either."""
    for key, texts in RED_FLAG_QUESTIONS.items():
        assert not re.search(r"\bnot\b|n't\b|\bno\b", texts["en"].lower()), key


def test_the_emergency_warning_says_new_or_worse_and_come_and_go():
    text = " ".join(emergency_warning("en"))
    assert "new or getting worse" in text and "come and go" in text and "buttocks" in text
    assert "emergency" in text


# Source tags of clinical-content.md §6, and guidelines named in full.
KNOWN_SOURCES = (
    "BACKES", "CHIROMT", "CKS-RF", "CSP-GIRFT", "DOCSLIB", "DOWNIE13", "FTPT", "FUSION", "HEY", "IFOMPT20",
    "LOTHIAN", "LOTHIAN-RD", "MDTHER", "NICE59", "RCEM", "WIKEM", "[D]",
    "GIRFT CES pathway", "NICE NG234", "clinical-content.md §3.3",
)  # fmt: skip


def known_source(part: str) -> bool:
    return any(part == tag or part.startswith(f"{tag} ") for tag in KNOWN_SOURCES)


def test_docs_table_lists_every_rule():
    docs = DOCS.read_text(encoding="utf-8")
    table = docs[docs.index("### Red-flag rules") : docs.index("### What the patient is told")]
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in table.splitlines()
        if line.startswith("| ") and line.count("|") == 6 and not line.startswith("| tier")
    ]
    for rule in RULES:
        row = next(
            (
                row
                for row in rows
                if row[:2] == [rule.tier, f"`{rule.reason}`"]
                and set(re.findall(r"`(\w+)`", row[2])) == rule.any_of
                and set(re.findall(r"`(\w+)`", row[3])) == rule.with_any
            ),
            None,
        )
        assert row is not None, f"no row in docs/clinical-rules.md for {rule}"
        source = row[4]
        assert source.startswith(rule.source), (
            f"{rule.reason}: the docs give {source!r}, RULES {rule.source!r}"
        )
        for part in rule.source.split("; "):
            assert known_source(part), f"{rule.reason}: {part!r} is not a known source"
    assert len(rows) == len(RULES), "a row in docs/clinical-rules.md has no rule"
