"""The step a page opens on arrival: step 1 until it is done, then the first step not yet done."""

from __future__ import annotations

from qulab.lab.step_progress import CHECK_STEP, first_open

STEPS = ("The idea", "Set up", "Watch", "Measure", "Break", CHECK_STEP)
EXPLAINS = ("The idea", "Watch")


def test_nothing_done_opens_step_one() -> None:
    assert first_open(STEPS, set(), EXPLAINS) == 0


def test_step_one_done_opens_the_first_step_not_yet_done() -> None:
    assert first_open(STEPS, {"The idea"}, EXPLAINS) == 1
    assert first_open(STEPS, {"The idea", "Set up", "Measure"}, EXPLAINS) == 4


def test_a_step_that_only_explains_is_done_once_a_later_one_is() -> None:
    assert first_open(STEPS, {"Set up"}, EXPLAINS) == 2  # the idea passed, Watch not yet
    assert first_open(STEPS, {"Set up", "Measure"}, EXPLAINS) == 4  # Watch passed too


def test_an_action_step_left_undone_is_opened_even_when_later_ones_are_done() -> None:
    assert first_open(STEPS, {"Measure"}, EXPLAINS) == 1


def test_every_step_done_opens_step_one_again() -> None:
    assert first_open(STEPS, {"Set up", "Measure", "Break", CHECK_STEP}, EXPLAINS) == 0
