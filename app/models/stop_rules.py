"""The "stop the exercise" rules shown to patients (clinical-content §3.3), by code, in every locale.

Red flags (§3.3 rule 6) are not a per-exercise code: the symptom check-in handles them for the whole
programme. Each sentence that promises an action ("your physio will be told") must have a rule in the
service that keeps it.

Nerve glides have their own pair (clinical review H8, W5): a little tingling during a glide is expected,
so they carry ``nerve_glide_symptoms`` and the stricter ``leg_pain_above_3`` instead of
``new_numbness_or_weakness`` and ``pain_above_5``, which would contradict them.
"""

from typing import Literal

StopRule = Literal[
    "leg_symptoms_spread", "new_numbness_or_weakness", "pain_above_5", "worse_next_morning",
    "dizziness_chest_pain_breathless", "nerve_glide_symptoms", "leg_pain_above_3",
]  # fmt: skip

STOP_RULES: dict[str, dict[str, str]] = {
    "leg_symptoms_spread": {
        "en": "Stop if pain or tingling moves further down your leg than it was before you began.",
        "es": "Para el ejercicio si el dolor o el hormigueo te baja por la pierna más lejos que antes de "
        "empezar.",
    },
    "new_numbness_or_weakness": {
        "en": "Stop if your leg or foot becomes numb, tingly or weak in a way that is new for you.",
        "es": "Para el ejercicio si notas la pierna o el pie dormidos, con hormigueo o flojos de una forma "
        "que no te había pasado antes.",
    },
    "pain_above_5": {
        "en": "Stop if the pain goes above 5 out of 10 while you exercise, or if you feel a sharp or "
        "catching pain.",
        "es": "Para el ejercicio si el dolor pasa de 5 sobre 10 mientras lo haces, o si notas un dolor "
        "agudo o un pinchazo.",
    },
    "worse_next_morning": {
        "en": "If your pain or stiffness is worse the next morning than before the session, do the easier "
        "version next time. If your mornings are worse twice in a row, your physio will be told.",
        "es": "Si a la mañana siguiente tienes más dolor o rigidez que antes de la sesión, haz la versión "
        "más fácil la próxima vez. Si te levantas peor dos mañanas seguidas, se avisará a tu "
        "fisioterapeuta.",
    },
    "dizziness_chest_pain_breathless": {
        "en": "Stop straight away if you feel dizzy or faint, get chest pain, or are short of breath.",
        "es": "Para enseguida si te mareas o notas que te vas a desmayar, si te duele el pecho o si te "
        "falta el aire.",
    },
    "nerve_glide_symptoms": {
        "en": "A little tingling during the glide is fine if it fades within a minute or two of stopping. "
        "Stop if it lingers or spreads, or if your leg or foot feels newly numb or weak.",
        "es": "Un poco de hormigueo durante el deslizamiento es normal si se va en uno o dos minutos al "
        "parar. Para el ejercicio si no se va o se extiende, o si notas la pierna o el pie dormidos o "
        "flojos cuando antes no lo estaban.",
    },
    "leg_pain_above_3": {
        "en": "Stop if the pain in your leg goes above 3 out of 10, or if you feel a sharp pain.",
        "es": "Para el ejercicio si el dolor de la pierna pasa de 3 sobre 10, o si notas un dolor agudo.",
    },
}

# Rules every neurodynamics exercise carries, and only those exercises.
NEURODYNAMICS_ONLY = frozenset({"nerve_glide_symptoms", "leg_pain_above_3"})
# Rules a neurodynamics exercise must not carry: the two above replace them.
NOT_ON_NEURODYNAMICS = frozenset({"new_numbness_or_weakness", "pain_above_5"})
