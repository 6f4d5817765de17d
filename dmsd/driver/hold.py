"""How long something has been seen on end, and whether that is long enough: the one place it is decided.

Every "held for N seconds" in driver/ is a `Hold`: an emotion leading for `state.emotion_hold_s`, a belt reading
past its threshold for `state.seatbelt_debounce_s`, a phone reading for `phone.min_s`, and the alertness tracker's
closures, glances away, yawns and stretches without attention. Time is the frames' own, and frame times are floats
(5.6 - 2.6 is 2.9999999999999996): a hold within `CLOCK_SLACK_S` of its length has lasted it, wherever it is timed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
CLOCK_SLACK_S = 1e-6


@dataclass
class Hold(Generic[T]):
    """`value`, seen on end since the frame time `since` (None: a condition with no value, such as a closure)."""

    since: float
    value: T | None = None

    def length(self, now: float) -> float:
        return now - self.since

    def lasted(self, now: float, needed: float, less: float = 0.0) -> bool:
        """Whether it has been seen for `needed` seconds by `now`, not counting `less` of that time."""
        return self.length(now) - less >= needed - CLOCK_SLACK_S


def seen(hold: Hold[T] | None, value: T, now: float) -> Hold[T]:
    """`value` seen at `now`: the hold it continues, or a new one from `now` when it differs from what was held."""
    if hold is not None and hold.value == value:
        return hold
    return Hold(now, value)
