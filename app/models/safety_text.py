"""Everything a patient reads about safety, in every catalogue locale (clinical-content.md §3).

Short lines in plain words, one idea each: the app shows them as bullets. English is required and is the
fallback for any other locale; tests/services/test_red_flags.py checks every text exists in every locale the
exercise catalogue declares and keeps each English emergency, urgent and hold line at or below reading
grade 6. A line that says something happened (paused, told) is only ever shown when it did: the services
choose the lines from what they actually did.
"""

Texts = dict[str, str]

# The red-flag questions of a symptom check-in, in the order the app asks them. Each asks about something
# new or worse (falls and blows: in the last 2 weeks or since the last check-in), so a patient with stable,
# already assessed symptoms can answer "no" every time; history (cancer, weak immunity, fracture risk, past
# trauma) is on the clinician's screening record instead. Each is worded so that "yes" is the sign.
RED_FLAG_QUESTIONS: dict[str, Texts] = {
    "saddle_numbness": {
        "en": "Is there new numbness or tingling between your legs, in your buttocks, or around your bottom "
        "or genitals? Or does it feel different when you wipe?",
        "es": "¿Notas entumecimiento u hormigueo nuevos entre las piernas, en las nalgas, o alrededor del "
        "ano o de los genitales? ¿O notas algo distinto al limpiarte?",
    },
    "bladder_change": {
        "en": "Do you have new trouble peeing, or leaking? Is it hard to feel when you pee, or to tell when "
        "your bladder is full?",
        "es": "¿Tienes problemas nuevos para orinar, o escapes de orina? ¿Te cuesta notar cuándo sale la "
        "orina, o saber si la vejiga está llena?",
    },
    "bowel_change": {
        "en": "Have you lost control of your bowels? Is it hard to feel when you poo?",
        "es": "¿Has perdido el control de las heces? ¿Te cuesta notar cuándo haces de vientre?",
    },
    "sexual_dysfunction": {
        "en": "Do you have new problems with sex, such as numb genitals or trouble with erections?",
        "es": "¿Tienes problemas sexuales nuevos, como genitales dormidos o problemas de erección?",
    },
    "both_legs": {
        "en": "Do you have pain, numbness or weakness in both legs that is new or getting worse?",
        "es": "¿Tienes dolor, entumecimiento o debilidad en las dos piernas, nuevos o que van a peor?",
    },
    "major_trauma": {
        "en": "In the last 2 weeks, or since you last answered these questions, have you had a bad fall, a "
        "crash, or a hard blow to your back?",
        "es": "En las últimas 2 semanas, o desde la última vez que respondiste a estas preguntas, ¿has "
        "tenido una caída fuerte, un accidente o un golpe fuerte en la espalda?",
    },
    "minor_fall": {
        "en": "In the last 2 weeks, or since you last answered, have you had a fall or knock, even a small "
        "one?",
        "es": "En las últimas 2 semanas, o desde la última vez que respondiste, ¿te has caído o te has dado "
        "un golpe, aunque sea pequeño?",
    },
    "leg_weakness_worsening": {
        "en": "Is a leg or foot getting weaker? For example, do your toes catch or your foot slap when you "
        "walk? Or is numbness spreading fast?",
        "es": "¿Se te está debilitando una pierna o un pie? Por ejemplo, ¿tropiezas con los dedos o el pie "
        "golpea el suelo al andar? ¿O el entumecimiento se extiende deprisa?",
    },
    "walking_difficulty": {
        "en": "Is walking newly hard for you, or do you feel unsteady on your feet?",
        "es": "¿Te cuesta andar más que antes, o te notas inestable al estar de pie?",
    },
    "arm_symptoms": {
        "en": "Do you have new numbness, tingling or clumsiness in your hands or arms?",
        "es": "¿Notas entumecimiento, hormigueo o torpeza nuevos en las manos o los brazos?",
    },
    "severe_or_worsening_pain": {
        "en": "Is your back pain new and very bad, or getting much worse?",
        "es": "¿Tienes un dolor de espalda nuevo y muy fuerte, o mucho peor que antes?",
    },
    "upper_back_pain": {
        "en": "Do you have new pain in your upper or middle back?",
        "es": "¿Tienes dolor nuevo en la parte alta o media de la espalda?",
    },
    "pulsing_belly_pain": {
        "en": "Do you have a new throbbing or pulsing pain in your belly?",
        "es": "¿Tienes en la barriga un dolor nuevo que late o palpita?",
    },
    "fever_or_unwell": {
        "en": "Do you have a fever or chills, or feel unwell all over?",
        "es": "¿Tienes fiebre o escalofríos, o te encuentras mal en general?",
    },
    "weight_loss": {
        "en": "Have you lost weight without trying?",
        "es": "¿Has perdido peso sin proponértelo?",
    },
    "night_pain": {
        "en": "Is the pain there all the time, or at night, even when you rest or change position?",
        "es": "¿El dolor está ahí todo el tiempo, o por la noche, aunque descanses o cambies de postura?",
    },
    "no_improvement_month": {
        "en": "Is your pain about the same as, or worse than, 4 weeks ago?",
        "es": "¿Tu dolor está más o menos igual que hace 4 semanas, o peor?",
    },
    "new_nerve_pain": {
        "en": "Do you have new pain that shoots down a leg?",
        "es": "¿Tienes un dolor nuevo que baja como una descarga por una pierna?",
    },
    "morning_stiffness": {
        "en": "Is your back stiff for more than 30 minutes after you get up?",
        "es": "¿Tienes la espalda rígida más de 30 minutos después de levantarte?",
    },
    "symptoms_spreading": {
        "en": "Does pain or tingling keep spreading further down your leg?",
        "es": "¿El dolor o el hormigueo sigue bajando cada vez más por la pierna?",
    },
    "not_easing_three_days": {
        "en": "Has a flare-up of pain gone on for 3 days or more without starting to ease?",
        "es": "¿Una crisis de dolor ha durado 3 días o más sin empezar a aliviarse?",
    },
}

# The standing cauda equina warning, in every programme the app holds offline and on every handout page:
# a lead line, the signs as bullets, and what to do.
EMERGENCY_WARNING: dict[str, list[str]] = {
    "en": [
        "Get help now if you have any of these signs, even if they come and go:",
        "Numbness or tingling between your legs or in your buttocks. Or around your bottom or genitals.",
        "It feels different when you wipe after using the toilet.",
        "New trouble peeing. Or you cannot feel pee come out, or tell if your bladder is full.",
        "You have started to leak pee or poo, or you cannot feel when you poo.",
        "New problems with sex, such as numb genitals or trouble with erections.",
        "Pain, numbness or weakness in both legs that is new or getting worse.",
        "Go to an emergency department now, or call your emergency number. Do not wait for your next "
        "visit, and do not just send a message to your physio.",
    ],
    "es": [
        "Busca ayuda ahora si notas cualquiera de estas señales, aunque vayan y vengan:",
        "Entumecimiento u hormigueo entre las piernas o en las nalgas. O alrededor del ano o de los "
        "genitales.",
        "Notas algo distinto al limpiarte después de ir al baño.",
        "Problemas nuevos para orinar. O no notas cuándo sale la orina, o no sabes si la vejiga está llena.",
        "Has empezado a tener escapes de orina o de heces, o no notas cuándo haces de vientre.",
        "Problemas sexuales nuevos, como genitales dormidos o problemas de erección.",
        "Dolor, entumecimiento o debilidad en las dos piernas, nuevos o que van a peor.",
        "Ve a urgencias ahora o llama al número de emergencias. No esperes a tu próxima cita y no te "
        "limites a escribir a tu fisioterapeuta.",
    ],
}

STOP_RULES_INTRO: Texts = {
    "en": "Stop the exercise and log how it went if any of the stop signs listed with it happens.",
    "es": "Deja el ejercicio y anota cómo ha ido si aparece cualquiera de las señales de parada que lo "
    "acompañan.",
}

# The lines instructions are made of (app.services.safety chooses them).
LINES: dict[str, Texts] = {
    # emergency
    "go_to_emergency": {
        "en": "Go to an emergency department now. Or call your emergency number.",
        "es": "Ve a urgencias ahora o llama al número de emergencias.",
    },
    "do_not_wait": {
        "en": "Do not wait to hear from your physio.",
        "es": "No esperes a que te conteste tu fisioterapeuta.",
    },
    "show_this_screen": {
        "en": "Show this screen to the staff.",
        "es": "Enseña esta pantalla al personal.",
    },
    # urgent
    "call_clinic_today": {
        "en": "Call your clinic today.",
        "es": "Llama hoy a tu clínica.",
    },
    "if_no_answer_today": {
        "en": "If you cannot reach them, see your doctor or go to urgent care today.",
        "es": "Si no puedes hablar con ellos, ve a tu médico o a tu centro de salud hoy.",
    },
    "emergency_signs_go_now": {
        "en": "If you get any of the emergency signs, do not wait. Go to an emergency department now.",
        "es": "Si notas alguna de las señales de emergencia, no esperes. Ve a urgencias ahora.",
    },
    # emergency and urgent
    "stop_exercises": {
        "en": "Do not do your exercises until your physio has checked you.",
        "es": "No hagas tus ejercicios hasta que te revise tu fisioterapeuta.",
    },
    # routine
    "keep_going_unless_worse": {
        "en": "You can keep doing your exercises if they do not make things worse.",
        "es": "Puedes seguir con tus ejercicios si no te hacen empeorar.",
    },
    "stop_what_spreads": {
        "en": "Stop any exercise that makes pain or tingling spread down your leg.",
        "es": "Deja cualquier ejercicio que haga bajar el dolor o el hormigueo por la pierna.",
    },
    "call_your_physio": {
        "en": "Call your physio to talk about it.",
        "es": "Llama a tu fisioterapeuta para hablarlo.",
    },
    # what happened: only shown when it did
    "programme_paused": {
        "en": "Your exercise programme is paused.",
        "es": "Tu programa de ejercicios está en pausa.",
    },
    "clinic_told": {
        "en": "Your clinic has been told.",
        "es": "Se ha avisado a tu clínica.",
    },
    "physio_told": {
        "en": "Your physio has been told and will check this with you.",
        "es": "Se ha avisado a tu fisioterapeuta, que lo revisará contigo.",
    },
    "clinic_not_told": {
        "en": "We could not tell your clinic. Call them now.",
        "es": "No hemos podido avisar a tu clínica. Llama ahora a tu clínica.",
    },
    # answers left out, or none of the signs
    "answer_the_rest": {
        "en": "Please also answer the questions you skipped.",
        "es": "Responde también a las preguntas que has dejado sin contestar.",
    },
    "not_all_answered": {
        "en": "Some questions have no answer yet, so we cannot check you fully.",
        "es": "Hay preguntas sin respuesta, así que no podemos revisarte del todo.",
    },
    "answer_every_question": {
        "en": "Please answer every question.",
        "es": "Responde a todas las preguntas, por favor.",
    },
    "none_reported": {
        "en": "Thank you. You told us you have none of these signs.",
        "es": "Gracias. Nos has dicho que no tienes ninguna de estas señales.",
    },
    "check_again": {
        "en": "Check again straight away if anything changes.",
        "es": "Vuelve a comprobarlo enseguida si algo cambia.",
    },
    # a programme on a safety hold (shown for days: what to do if nobody has checked the patient yet)
    "on_hold": {
        "en": "Your programme is paused until your physio has checked you.",
        "es": "Tu programa está en pausa hasta que te revise tu fisioterapeuta.",
    },
    "hold_emergency": {
        "en": "If nobody has checked you yet, go to an emergency department now. Or call your emergency "
        "number.",
        "es": "Si todavía no te ha revisado nadie, ve a urgencias ahora o llama al número de emergencias.",
    },
    "hold_urgent": {
        "en": "If nobody has checked you yet, call your clinic today.",
        "es": "Si todavía no te ha revisado nadie, llama hoy a tu clínica.",
    },
    # an exercise stopped after a bad session
    "easier_next_time": {
        "en": "Take it easier today: do fewer, or the easier version your physio showed you.",
        "es": "Hoy hazlo más suave: haz menos, o la versión más fácil que te enseñó tu fisioterapeuta.",
    },
    "exercise_stopped": {
        "en": "Stop doing this exercise for now.",
        "es": "Deja de hacer este ejercicio por ahora.",
    },
    "exercise_stopped_why": {
        "en": "It is stopped for now because your symptoms got worse with it. Your physio will check it with "
        "you before you start it again.",
        "es": "Está parado por ahora porque tus síntomas empeoraron con él. Tu fisioterapeuta lo revisará "
        "contigo antes de que vuelvas a hacerlo.",
    },
}


def localised(texts: Texts, locale: str) -> str:
    return texts.get(locale, texts["en"])


def lines(keys: list[str], locale: str) -> list[str]:
    return [localised(LINES[key], locale) for key in keys]


def emergency_warning(locale: str) -> list[str]:
    return EMERGENCY_WARNING.get(locale, EMERGENCY_WARNING["en"])
