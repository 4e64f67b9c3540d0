"""How the wallet moves the parts of one object: several at once under eventlet, and a
failed part never leaves another still being written behind the caller's clean-up."""
from __future__ import annotations

import eventlet
import pytest
from guichet_wallet.objectstore import PARTS_IN_FLIGHT, each_green, each_in_turn


class Recorder:
    def __init__(self, fail_on: int | None = None) -> None:
        self.active = self.most = 0
        self.finished: list[int] = []
        self.fail_on = fail_on

    def __call__(self, item: int) -> int:
        self.active += 1
        self.most = max(self.most, self.active)
        eventlet.sleep(0.01)  # a network wait: the hub runs the others meanwhile
        self.active -= 1
        if item == self.fail_on:
            raise OSError(f"part {item} lost")
        eventlet.sleep(0.01)
        self.finished.append(item)
        return item * 10


def test_parts_move_side_by_side_in_order_and_bounded() -> None:
    rec = Recorder()
    assert each_green(rec, range(10)) == [i * 10 for i in range(10)]
    assert 1 < rec.most <= PARTS_IN_FLIGHT


def test_a_failed_part_waits_for_the_others_then_raises() -> None:
    rec = Recorder(fail_on=0)
    with pytest.raises(OSError, match="part 0 lost"):
        each_green(rec, range(6))
    assert sorted(rec.finished) == [1, 2, 3, 4, 5]  # all done before the error reached the caller


def test_without_eventlet_parts_go_one_after_the_other() -> None:
    rec = Recorder()
    assert each_in_turn(rec, range(3)) == [0, 10, 20] and rec.most == 1
