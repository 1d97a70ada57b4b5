"""Policy sweeps and partitioned backtests on Ray (issue 17).

:func:`run_sweep` backtests every variant of a ``--vary`` grid on the same
stores in parallel (:mod:`.grid` makes the variants, :mod:`.cluster` runs the
tasks, :mod:`.tasks` is one worker's backtest, :mod:`.report` the table, the
Pareto front and the pick); :func:`run_partitioned` splits one policy's
backtest of a large store into independent parts (:mod:`.partition`).
"""

from .cluster import Cluster, release
from .grid import Variant, Vary, parse_varies, plan_variants
from .report import SweepReport, VariantRow, read_sweep
from .partition import PartitionPlan, plan_partitions, run_partitioned
from .run import run_sweep
from .stores import store_of_log

__all__ = ["Cluster", "PartitionPlan", "plan_partitions", "run_partitioned", "SweepReport", "Variant", "VariantRow", "Vary", "parse_varies", "plan_variants", "read_sweep",
           "release", "run_sweep", "store_of_log"]
