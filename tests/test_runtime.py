"""The services' heap settings: start-up objects frozen, cycles still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from charter.runtime import YOUNG_THRESHOLD, settle_heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.mark.usefixtures("restored_gc")
def test_settling_freezes_what_the_service_holds_and_collects_young_objects_less_often() -> None:
    held = [object() for _ in range(1000)]
    settle_heap()
    assert gc.get_freeze_count() >= len(held)
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD


@pytest.mark.usefixtures("restored_gc")
def test_reference_cycles_made_after_settling_are_still_collected() -> None:
    settle_heap()
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None
