"""What a simulation run is asked for, checked up front so bad input fails with a clear message."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import SimulatorError
from .faults import NAMES, default_rates, no_faults

#: 2026-02-21T14:30:00Z, the first broker time of every run (same options -> same bytes).
DEFAULT_START_NS = 1_771_684_200_000_000_000
DEFAULT_GROUPS = 1000
#: Beyond these a run would write hundreds of gigabytes and take days: a typo, not a request.
MAX_EVENTS = 1_000_000_000
MAX_GROUPS = 50_000_000


@dataclass(frozen=True)
class SimOptions:
    """One run: a seed, a size (events or groups), fault rates per kind."""

    seed: int = 0
    events: int | None = None
    groups: int | None = None
    rates: dict[str, float] = field(default_factory=default_rates)
    start_ns: int = DEFAULT_START_NS

    def __post_init__(self) -> None:
        if type(self.seed) is not int or self.seed < 0:
            raise SimulatorError(f"--seed must be a non-negative integer, got {self.seed!r}")
        if self.events is not None and self.groups is not None:
            raise SimulatorError("give --events or --groups, not both")
        for name, value, most in (("--events", self.events, MAX_EVENTS), ("--groups", self.groups, MAX_GROUPS)):
            if value is not None and (type(value) is not int or value < 1):
                raise SimulatorError(f"{name} must be a positive integer, got {value!r}")
            if value is not None and value > most:
                raise SimulatorError(f"{name} {value:,} is more than this simulator writes (at most {most:,}); "
                                     "for more history, simulate several days with different --seed values")
        unknown = sorted(set(self.rates) - set(NAMES))
        if unknown:
            raise SimulatorError(f"unknown fault kind {', '.join(unknown)}: expected one of {', '.join(NAMES)}")
        for name, rate in self.rates.items():
            if not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
                raise SimulatorError(f"rate for {name} must be a probability between 0 and 1, got {rate!r}")
        missing = set(NAMES) - set(self.rates)
        if missing:
            object.__setattr__(self, "rates", {**no_faults(), **self.rates})

    @property
    def target_groups(self) -> int | None:
        """Groups to make; None when the run is sized in events."""
        if self.events is not None:
            return None
        return self.groups if self.groups is not None else DEFAULT_GROUPS


def parse_rates(texts: list[str], faults: str | None) -> dict[str, float]:
    """``--faults none|default`` as the base, then each ``--rate KIND=R`` over it."""
    if faults not in (None, "default", "none"):
        raise SimulatorError(f"--faults must be 'none' or 'default', got {faults!r}")
    rates = no_faults() if faults == "none" else default_rates()
    for text in texts:
        name, sep, value = text.partition("=")
        name = name.strip()
        if not sep or not name:
            raise SimulatorError(f"--rate expects KIND=R (e.g. duplicate=0.01), got {text!r}")
        if name not in NAMES:
            raise SimulatorError(f"--rate {text!r}: unknown fault kind {name!r}; expected one of {', '.join(NAMES)}")
        try:
            rate = float(value)
        except ValueError:
            raise SimulatorError(f"--rate {text!r}: {value!r} is not a number; give a probability like 0.01") from None
        if not 0.0 <= rate <= 1.0:
            raise SimulatorError(f"--rate {text!r}: a rate is a probability between 0 and 1")
        rates[name] = rate
    return rates
