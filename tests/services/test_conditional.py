"""RFC 9110 conditional GETs: weak comparison for If-None-Match, and `*`."""

import pytest

from app.services.conditional import none_match
from tests.services.test_programmes import action, create


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ('"3.en.2"', True),
        ('W/"3.en.2"', True),  # weakened by a proxy that compressed the body
        (' "1.en.2" , W/"3.en.2" ', True),
        ("*", True),
        ('"3.en"', False),
        ('W/"3.es.2"', False),
        ('"W/3.en.2"', False),  # W/ inside the quotes is part of the opaque tag
        ("", False),
    ],
)
def test_none_match_is_the_weak_comparison(header, expected):
    assert none_match(header, '"3.en.2"') is expected


def test_proxy_weakened_tag_and_star_answer_304(client, world):
    programme = create(client, world.a)
    action(client, world.a, programme["id"], "activate")
    url = f"/v1/me/programmes/{programme['id']}"
    headers = world.a.headers["patient"]
    tag = client.get(url, headers=headers).headers["ETag"]
    assert not tag.startswith("W/")
    for sent in (f"W/{tag}", "*", f'"0.xx.0", W/{tag}'):
        answer = client.get(url, headers={**headers, "If-None-Match": sent})
        assert answer.status_code == 304, sent
        assert answer.content == b"" and answer.headers["ETag"] == tag
    assert client.get(url, headers={**headers, "If-None-Match": 'W/"0.xx.0"'}).status_code == 200
