"""Conditional requests by RFC 9110: pure functions over header values, no web framework."""


def _opaque(tag: str) -> str:
    # Weak comparison (RFC 9110 §8.8.3.2): two tags match when their opaque parts do, W/ or not.
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def none_match(if_none_match: str | None, current: str) -> bool:
    """True when `If-None-Match` names the current representation, so a GET answers 304 (§13.1.2).

    `*` matches any current representation, and the comparison is weak: a proxy that compresses the body
    (nginx with gzip) turns `"3.en.2"` into `W/"3.en.2"`, and the app must still recognise it.
    """
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = _opaque(current)
    return any(_opaque(tag) == wanted for tag in if_none_match.split(","))
