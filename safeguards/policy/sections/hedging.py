"""The hedging guard's section: how deep and how large emergency hedges may be, and on how fresh a quote."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...errors import Problem
from ..durations import parse_duration
from ..source import SourceMap
from ..wording import duration
from .section import AlertDefault, Section


def compile_section(hedging: dict[str, Any]) -> dict[str, Any]:
    return {
        "max_depth": int(hedging["max_depth"]),
        "liquidity_fraction": float(hedging["liquidity_fraction"]),
        "quote_max_age_ns": parse_duration(hedging["quote_max_age"]),
        "max_attempts_per_group": int(hedging["max_attempts_per_group"]),
        "max_unhedged_ns": parse_duration(hedging["max_unhedged"]),
    }


def explain(tables: dict[str, Any]) -> list[str]:
    h = tables["hedging"]
    return [
        "EMERGENCY HEDGES (hedging)",
        f"  A hedge may hedge an order, and a hedge may hedge a hedge, down to depth {h['max_depth']}; deeper ones are blocked.",
        f"  A hedge may take at most {h['liquidity_fraction']:.0%} of the size displayed on the side it takes, "
        f"from a quote no older than {duration(h['quote_max_age_ns'])}; otherwise it is blocked.",
        f"  A group may send at most {h['max_attempts_per_group']} hedges and stay unhedged at most {duration(h['max_unhedged_ns'])}.",
    ]


def _hedge_limits_agree(data: dict[str, Any], source: SourceMap) -> Iterator[Problem]:
    hedging = data["hedging"]
    if hedging["max_attempts_per_group"] < hedging["max_depth"]:
        yield source.problem(
            f"hedging.max_attempts_per_group ({hedging['max_attempts_per_group']}) is below hedging.max_depth "
            f"({hedging['max_depth']}): a chain that deep needs that many attempts; raise the attempts or lower the depth",
            ("hedging", "max_attempts_per_group"),
        )


#: The alert kinds this guard raises, with their default severities.
ALERTS = (
    AlertDefault("hedge_depth_exceeded", "critical"),
    AlertDefault("insufficient_liquidity", "warning"),
    AlertDefault("stale_quote", "warning"),
    AlertDefault("hedge_attempts_exceeded", "warning"),
    AlertDefault("unhedged_timeout", "warning"),
)

SECTION = Section("hedging", compile_section, explain, checks=(_hedge_limits_agree,),
                  durations=("quote_max_age", "max_unhedged"), alerts=ALERTS)
