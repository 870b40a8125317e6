"""Patient-facing safety text shown in every programme snapshot (clinical-content.md §3.1 and §3.3).

Written in plain words; English is required and is the fallback for any other locale.
"""

EMERGENCY_WARNING: dict[str, str] = {
    "en": (
        "Get emergency help now (go to an emergency department or call your emergency number) if you "
        "notice any of these, even if your exercises are going well: numbness or pins and needles "
        "between your legs, around your genitals or back passage, or a change in feeling when you wipe; "
        "new trouble starting, stopping or feeling your wee, or leaking; losing control of your bowels "
        "or not feeling them; new problems with sexual function; sciatica, weakness or numbness in both "
        "legs. Do not wait for your next appointment and do not just message your physio."
    ),
    "es": (
        "Busca ayuda urgente ahora (ve a urgencias o llama al número de emergencias) si notas cualquiera "
        "de estas cosas, aunque los ejercicios vayan bien: entumecimiento u hormigueo entre las piernas, "
        "alrededor de los genitales o del ano, o notar distinto al limpiarte; problemas nuevos para "
        "empezar, parar o notar la orina, o escapes; perder el control de las heces o no notarlas; "
        "problemas sexuales nuevos; ciática, debilidad o entumecimiento en las dos piernas. No esperes a "
        "tu próxima cita ni te limites a escribir a tu fisioterapeuta."
    ),
}

STOP_RULES_INTRO: dict[str, str] = {
    "en": "Stop the exercise and log how it went if any of the stop signs listed with it happens.",
    "es": "Deja el ejercicio y anota cómo ha ido si aparece cualquiera de las señales de parada que lo "
    "acompañan.",
}


def localised(texts: dict[str, str], locale: str) -> str:
    return texts.get(locale, texts["en"])
