"""Backtests: replay history through the production engine, score it, compare policies (issue 6).

``run_backtest(policy, out_dir, events=LOG | db=DB, ...)`` writes a run folder
that is promotable evidence: ``decisions.parquet``, ``alerts.parquet``,
``summary.json``, ``metrics.json`` (and ``scoring.json`` with labels,
``comparison.json`` with ``compare=``). Modules: :mod:`.source` (events in),
:mod:`.sink` (decisions and alerts out), :mod:`.scoring`, :mod:`.summary`,
:mod:`.compare`, :mod:`.replay` (the loop), :mod:`.reading` (what policies replayed together share),
:mod:`.lane` (one policy's part), :mod:`.analysis` (notebook tables). ``run_backtests``
replays several policies of one store in one pass, each into its own run folder.
"""

from .compare import render as render_comparison
from .replay import BacktestResult, run_backtest, run_backtests
from .source import Window

__all__ = ["BacktestResult", "Window", "render_comparison", "run_backtest", "run_backtests"]
