"""The process's connection budget: a fair share each, never more than the setting."""

from __future__ import annotations

import threading

from hubmagic.core.budget import ConnectionBudget


def budget(limit: int) -> ConnectionBudget:
    return ConnectionBudget(lambda: limit)


def test_one_download_takes_up_to_the_limit() -> None:
    b = budget(3)
    b.join(1)
    assert [b.try_take(1) for _ in range(4)] == [True, True, True, False]
    b.give_back(1)
    assert b.try_take(1)


def test_a_second_download_gets_its_first_connection_before_the_first_grows() -> None:
    b = budget(4)
    b.join(1)
    assert b.try_take(1) and b.try_take(1)
    b.join(2)
    assert b.try_take(2), "a download with none is served while there is room"
    assert not b.try_take(1), "two each: 1 is at its share"
    assert b.try_take(2)
    assert not b.try_take(2)
    assert b.in_use() == {1: 2, 2: 2}


def test_the_limit_holds_and_a_leaving_download_frees_its_share() -> None:
    b = budget(2)
    b.join(1)
    b.join(2)
    b.join(3)
    assert b.try_take(1) and b.try_take(2)
    assert not b.try_take(3), "never more than the setting"
    got = threading.Event()

    def third() -> None:
        if b.take(3):
            got.set()

    thread = threading.Thread(target=third)
    thread.start()
    assert not got.wait(0.3)
    b.leave(1)
    assert got.wait(5)
    thread.join()
    assert b.in_use() == {2: 1, 3: 1}


def test_take_gives_up_when_told_to_stop() -> None:
    b = budget(1)
    b.join(1)
    b.join(2)
    assert b.try_take(1)
    stop = threading.Event()
    stop.set()
    assert b.take(2, stop) is False
