"""The bounded map of rendered answers (app.services.rendered)."""

from app.services.rendered import Rendered


def test_an_answer_is_rendered_once_and_the_least_recently_used_goes_first():
    renders: list[str] = []

    def render(key: str):
        def make() -> bytes:
            renders.append(key)
            return key.encode()

        return make

    kept: Rendered[str, bytes] = Rendered(2)
    assert kept.get("a", render("a")) == b"a" and kept.get("b", render("b")) == b"b"
    assert kept.get("a", render("a")) == b"a"  # kept: not rendered again, and now the most recent
    assert kept.get("c", render("c")) == b"c"  # over the bound: "b", the least recently used, goes
    assert len(kept) == 2 and renders == ["a", "b", "c"]
    assert kept.get("a", render("a")) == b"a" and renders == ["a", "b", "c"]
    assert kept.get("b", render("b")) == b"b" and renders == ["a", "b", "c", "b"]
