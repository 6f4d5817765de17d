"""The one rule for "held this long": edges of the clock slack, and a value that changes restarting the count."""

import pytest

from dmsd.driver.hold import CLOCK_SLACK_S, Hold, seen


def test_a_hold_lasts_its_length_exactly_and_within_the_float_slack():
    hold = Hold(2.6, "call")
    assert hold.lasted(5.6, 3.0)  # 5.6 - 2.6 is 2.9999999999999996 in floats: that is 3 s
    assert hold.lasted(2.6 + 3.0, 3.0)
    assert hold.lasted(2.6 + 3.0 - CLOCK_SLACK_S / 2, 3.0)
    assert not hold.lasted(2.6 + 3.0 - 10 * CLOCK_SLACK_S, 3.0)
    assert not hold.lasted(5.5, 3.0)
    assert Hold(0.0).lasted(3.0 - CLOCK_SLACK_S, 3.0)  # exactly the slack short: within it, so lasted


def test_time_left_out_of_a_hold_is_not_counted():
    hold = Hold(0.0)
    assert hold.lasted(4.0, 3.0, less=1.0)
    assert not hold.lasted(3.5, 3.0, less=1.0)
    assert hold.length(3.5) == 3.5


def test_seeing_the_same_value_keeps_its_start_and_another_value_restarts_it():
    first = seen(None, "happy", 1.0)
    assert (first.since, first.value) == (1.0, "happy")
    assert seen(first, "happy", 2.0) is first
    other = seen(first, "sad", 2.5)
    assert (other.since, other.value) == (2.5, "sad")
    assert not other.lasted(3.0, 1.0)
    assert other.lasted(3.5, 1.0)


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_reading_is_a_value_like_any_other(value):
    hold = seen(None, value, 0.0)
    assert seen(hold, value, 1.0) is hold
    assert seen(hold, not value, 1.0).since == 1.0
