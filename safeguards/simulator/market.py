"""The market the simulated book trades in: a few underlyings, their option series, quotes.

Prices come from a crude but monotone model (intrinsic value plus a time value
that fades away from the money), rounded to the 0.05 tick. Symbols are *reserved*
by the group that quotes and trades them until a little after the group ends,
so one group's quotes never decide another group's hedge: what the hedging
guard sees for a symbol is exactly what its group's script put there.
"""

from __future__ import annotations

import math
from functools import lru_cache
from dataclasses import dataclass
from random import Random

TICK = 0.05
STRIKES_EACH_SIDE = 30
EXPIRIES = ("260320", "260417")
#: Displayed sizes in clean quotes: at least twice the largest clean hedge (20 lots x ratio 2).
MIN_SIZE, MAX_SIZE = 100, 600
#: How long after its group ends a symbol stays reserved: longer than the quote staleness limit.
RESERVE_AFTER_NS = 3_000_000_000


@dataclass(frozen=True)
class Underlying:
    name: str
    spot: float
    step: float


UNDERLYINGS = (
    Underlying("SPX", 5000.0, 5.0),
    Underlying("NDX", 18000.0, 25.0),
    Underlying("RUT", 2000.0, 5.0),
    Underlying("AAPL", 190.0, 2.5),
    Underlying("TSLA", 200.0, 2.5),
)


@dataclass(frozen=True)
class LegSpec:
    """One leg of a strategy: which series, which side, how many per unit of the group."""

    name: str
    symbol: str
    side: str
    ratio: int
    theo: float


def _round_tick(price: float) -> float:
    return round(max(TICK, round(price / TICK) * TICK), 2)


class Market:
    """Option series, their theoretical prices, and which group holds which symbol until when."""

    def __init__(self) -> None:
        self.busy_until: dict[str, int] = {}
        self._theo: dict[str, float] = {}
        self._series: dict[tuple[str, int, str, int], tuple[str, float]] = {}

    def theo(self, symbol: str, underlying: Underlying, kind: str, strike: float, expiry: int) -> float:
        price = self._theo.get(symbol)
        if price is None:
            intrinsic = max(0.0, underlying.spot - strike) if kind == "C" else max(0.0, strike - underlying.spot)
            width = underlying.spot * 0.04 * (1 + expiry)
            time_value = underlying.spot * 0.012 * (1 + 0.4 * expiry) * math.exp(-((strike - underlying.spot) / width) ** 2)
            price = self._theo[symbol] = _round_tick(intrinsic + time_value)
        return price

    def _leg(self, name: str, und: Underlying, expiry: int, kind: str, index: int, side: str, ratio: int = 1) -> LegSpec:
        series = self._series.get((und.name, expiry, kind, index))
        if series is None:
            atm = round(und.spot / und.step) * und.step
            strike = atm + index * und.step
            symbol = f"{und.name}-{EXPIRIES[expiry]}-{kind}{strike:g}"
            series = self._series[und.name, expiry, kind, index] = (symbol, self.theo(symbol, und, kind, strike, expiry))
        return LegSpec(name, series[0], side, ratio, series[1])

    def strategy(self, rng: Random) -> tuple[str, list[LegSpec]]:
        """A random vertical, strangle, butterfly (3 legs) or iron condor (4 legs)."""
        und = UNDERLYINGS[rng.randrange(len(UNDERLYINGS))]
        expiry = rng.randrange(len(EXPIRIES))
        pick = rng.random()
        buy, sell = ("buy", "sell") if rng.random() < 0.5 else ("sell", "buy")
        if pick < 0.35:
            kind = "C" if rng.random() < 0.5 else "P"
            low = rng.randint(-12, 10)
            width = rng.randint(1, 4)
            return "vertical", [
                self._leg("low", und, expiry, kind, low, buy),
                self._leg("high", und, expiry, kind, low + width, sell),
            ]
        if pick < 0.6:
            put, call = -rng.randint(1, 12), rng.randint(1, 12)
            return "strangle", [
                self._leg("put", und, expiry, "P", put, buy),
                self._leg("call", und, expiry, "C", call, buy),
            ]
        if pick < 0.75:
            kind = "C" if rng.random() < 0.5 else "P"
            mid = rng.randint(-8, 8)
            width = rng.randint(1, 3)
            return "butterfly", [
                self._leg("wing_low", und, expiry, kind, mid - width, buy),
                self._leg("body", und, expiry, kind, mid, sell, ratio=2),
                self._leg("wing_high", und, expiry, kind, mid + width, buy),
            ]
        inner = rng.randint(1, 8)
        width = rng.randint(1, 4)
        return "iron_condor", [
            self._leg("long_put", und, expiry, "P", -inner - width, buy),
            self._leg("short_put", und, expiry, "P", -inner, sell),
            self._leg("short_call", und, expiry, "C", inner, sell),
            self._leg("long_call", und, expiry, "C", inner + width, buy),
        ]

    def free_strategy(self, rng: Random, t0: int) -> tuple[str, list[LegSpec], list[tuple[str, ...]]]:
        """A strategy none of whose symbols another group still holds at ``t0``, and every one drawn.

        Besides the group's own seed, plan and start, the strategies drawn are all a
        group's build depends on: :meth:`would_choose` checks a group built against
        another market (a window built ahead of time) without building it again.
        """
        tried = []
        while True:
            name, legs = self.strategy(rng)
            symbols = tuple(leg.symbol for leg in legs)
            tried.append(symbols)
            if self.is_free(symbols, t0):
                return name, legs, tried

    def is_free(self, symbols: tuple[str, ...], t0: int) -> bool:
        busy = self.busy_until
        return all(busy.get(symbol, 0) <= t0 for symbol in symbols)

    def would_choose(self, tried: list[tuple[str, ...]], t0: int) -> bool:
        """Would :meth:`free_strategy` here, at ``t0``, draw exactly these strategies and take the last?"""
        return self.is_free(tried[-1], t0) and not any(self.is_free(symbols, t0) for symbols in tried[:-1])

    def holding_at(self, t: int) -> dict[str, int]:
        """The reservations that can still matter to a group starting at ``t`` or later."""
        return {symbol: until for symbol, until in self.busy_until.items() if until > t}

    def reserve(self, symbols: list[str] | tuple[str, ...], until: int) -> None:
        for symbol in symbols:
            self.busy_until[symbol] = until + RESERVE_AFTER_NS

    @staticmethod
    @lru_cache(maxsize=4096)
    def quote_choices(theo: float) -> tuple[tuple[float, float], ...]:
        """The nine (bid, ask) pairs around ``theo``: mid off by -1..+1 tick, one to three ticks wide."""
        pairs = []
        for offset in (-1, 0, 1):
            mid = theo + TICK * offset
            for width in (1, 2, 3):
                half = TICK * width / 2
                bid = round(max(0.0, mid - half), 2)
                pairs.append((bid, round(max(bid + TICK, mid + half), 2)))
        return tuple(pairs)
