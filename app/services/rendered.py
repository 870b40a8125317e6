"""Answers rendered once and kept by everything they are rendered from (the patient app's programme
document and day plan): a bounded, least-recently-used map, safe to share between threads.

A key must name every input of its rendering, the patient's own programme among them, so that an entry
is never served for another input, another patient or another clinic; then nothing ever needs to be
removed by hand: a change of input is a new key, and the old entry ages out.
"""

from collections import OrderedDict
from collections.abc import Callable, Hashable
from threading import Lock
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Rendered(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = Lock()

    def get(self, key: K, render: Callable[[], V]) -> V:
        """The entry for `key`, rendered (outside the lock) when there is none."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        value = render()
        with self._lock:
            self._entries[key] = value
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)
