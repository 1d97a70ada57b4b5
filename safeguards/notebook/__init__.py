"""Validation notebooks run by papermill in a kernel of the current Python (issue 6).

:func:`run_notebook` executes ``notebooks/<name>.ipynb`` into
``runs/<policy>/<version>/<run-id>/`` with an HTML rendering and the metrics
the notebook wrote; :mod:`.kernel` supplies the kernel, :mod:`.html` the page.
"""

from .runner import NotebookRun, find_notebook, parse_value, run_notebook

__all__ = ["NotebookRun", "find_notebook", "parse_value", "run_notebook"]
