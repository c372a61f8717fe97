"""How both chat adapters send a message edit again after it failed on the platform's side or on
the way: exponential backoff with jitter, a bounded number of times."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    # About base, 2x, 4x … (at most cap) seconds between tries, `retries` times after the first:
    # by default 0.5 s to 30 s, about a minute and a half in all.
    base: float = 0.5
    cap: float = 30.0
    retries: int = 8

    def wait(self, failures: int) -> float:
        """The wait after `failures` failed tries in a row: half fixed, half random, so that the
        messages of one outage do not all come back at the same moment."""
        ceiling = min(self.cap, self.base * 2.0 ** (failures - 1))
        return ceiling / 2 + random.random() * ceiling / 2

    def gives_up(self, failures: int) -> bool:
        return failures > self.retries
