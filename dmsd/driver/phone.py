"""Phone use over time: a call or texting held for `phone.min_s` is `phone_use` (with its kind), and `none` held
for `phone.clear_s` after it is `phone_down`.

A change between call and texting while in use is the same use going on (the kind in the state follows it); a
reading of another kind, or of none, restarts the count toward `phone_use`. Time is the frames' own.
"""

from __future__ import annotations

from dataclasses import dataclass

from dmsd.config import PhoneConfig
from dmsd.driver.events import Event, phone_down_event, phone_use_event
from dmsd.driver.hold import Hold, seen
from dmsd.vision.stages.phone import NONE, PhoneResult


@dataclass(frozen=True)
class PhoneState:
    """The state's `phone`: the use held (none until a use has lasted `min_s`), with the latest reading's
    confidence in it."""

    use: str
    confidence: float


class PhoneTracker:
    def __init__(self, config: PhoneConfig):
        self.config = config
        self.reset()

    def reset(self) -> None:
        """No driver: nothing held, nothing pending."""
        self.held = NONE
        self.state: PhoneState | None = None
        self._pending: Hold[str] | None = None  # a reading that differs from what is held

    def update(self, now: float, reading: PhoneResult) -> list[Event]:
        events: list[Event] = []
        use = reading.use
        if self.held != NONE and use != NONE:
            self.held, self._pending = use, None  # in use, of either kind: it goes on, as the kind now seen
        elif use == self.held:
            self._pending = None
        else:
            self._pending = seen(self._pending, use, now)
            if self._pending.lasted(now, self.config.clear_s if use == NONE else self.config.min_s):
                events.append(self._change(use, reading, now))
        self.state = PhoneState(self.held, reading.probs.get(self.held, reading.confidence))
        return events

    def _change(self, use: str, reading: PhoneResult, now: float) -> Event:
        before, self.held, self._pending = self.held, use, None
        if use == NONE:
            return phone_down_event(now, before)
        return phone_use_event(now, use, reading.confidence)
