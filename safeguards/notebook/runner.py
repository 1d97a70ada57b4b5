"""Running a validation notebook: parameters in, an executed notebook, its HTML and metrics out.

The run folder is ``runs/<policy>/<version>/<run-id>/``: the notebook writes its
backtest outputs and ``metrics.json`` there (it receives the folder as the
``out_dir`` parameter), and the runner adds ``<NAME>.ipynb`` (executed) and
``<NAME>.html``. The folder is evidence for ``safeguards promote``.
"""

from __future__ import annotations

import ast
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import papermill
from papermill.exceptions import PapermillExecutionError

from ..errors import NotebookError, UsageError
from ..gates import GateReport, gate_report
from ..policy import CompiledPolicy, load_policy
from ..promotion import METRICS_FILE
from .html import render_html
from .kernel import KERNEL_NAME, CurrentPythonKernelManager

if TYPE_CHECKING:
    from ..sweep import SweepReport

#: Where the bundled notebooks live when the command is not run from the repository root.
PACKAGED_NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


#: A notebook parameter of this name is the candidate policy a notebook weighs against ``policy`` (compare).
CANDIDATE_PARAMETER = "other"
#: A notebook with a parameter of this name sweeps variants of ``policy`` into ``out_dir/SWEEP_FOLDER`` (sweep).
SWEEP_PARAMETER = "vary"
SWEEP_FOLDER = "sweep"


@dataclass
class Judged:
    """One policy as a run judged it: where it came from, the evidence it made and its gates on that evidence."""

    policy: CompiledPolicy
    source: str
    evidence: list[tuple[Path, dict[str, Any]]]
    gates: GateReport


@dataclass
class NotebookRun:
    """A finished run: its folder and files, the policy it validated and, for a comparison, the candidate."""

    folder: Path
    notebook: Path
    html: Path
    main: Judged  # of a sweep: its best variant, or the closest when none passes
    candidate: Judged | None = None
    sweep: "SweepReport | None" = None

    @property
    def judged(self) -> Judged:
        """The side the run answers for: the candidate of a comparison, else the policy itself."""
        return self.candidate if self.candidate is not None else self.main


def find_notebook(name: str, notebooks_dir: str | Path | None = None) -> Path:
    candidates = [Path(notebooks_dir)] if notebooks_dir else [Path("notebooks"), PACKAGED_NOTEBOOKS]
    file_name = name if name.endswith(".ipynb") else f"{name}.ipynb"
    for folder in candidates:
        if (folder / file_name).is_file():
            return folder / file_name
    known = sorted({p.stem for folder in candidates if folder.is_dir() for p in folder.glob("*.ipynb")})
    raise NotebookError(f"no notebook {file_name} in {', '.join(map(str, candidates))}; known: {', '.join(known) or 'none'}")


def parse_value(text: str) -> Any:
    """``-p KEY VALUE``: numbers, true/false and none become Python values; anything else stays text."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def notebook_defaults(path: Path) -> dict[str, Any]:
    """The ``parameters`` cell's defaults, as values (papermill reports them as source text)."""
    defaults = {}
    for name, spec in papermill.inspect_notebook(str(path)).items():
        try:
            defaults[name] = ast.literal_eval(spec["default"])
        except (ValueError, SyntaxError):
            defaults[name] = spec["default"]
    return defaults


def _run_folder(runs_root: Path, policy: CompiledPolicy, name: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = runs_root / policy.name / str(policy.version) / f"{stamp}-{name}-{secrets.token_hex(3)}"
    folder.mkdir(parents=True)
    return folder


def _evidence_in(folder: Path, policy: CompiledPolicy) -> list[tuple[Path, dict[str, Any]]]:
    """Every metrics.json in the run folder made by this policy (a compare run also holds the other's)."""
    found = []
    for path in sorted(folder.rglob(METRICS_FILE)):
        document = json.loads(path.read_text("utf-8"))
        if (isinstance(document, dict) and "dataset" in document and "metrics" in document
                and document.get("policy", {}).get("hash") == policy.hash):
            found.append((path.parent, document))
    return found


def run_notebook(name: str, parameters: dict[str, Any] | None = None, runs_root: str | Path = "runs",
                 notebooks_dir: str | Path | None = None, cwd: str | Path | None = None,
                 progress: bool = False) -> NotebookRun:
    """Execute notebook ``name`` with ``parameters`` in a kernel of this Python; raise NotebookError on a failing cell.

    ``progress``: papermill's bar of cells executed, on stderr.
    """
    source = find_notebook(name, notebooks_dir)
    defaults = notebook_defaults(source)
    for needed, why in (("out_dir", "the runner passes the run folder there"),
                        ("policy", "the run folder is named after the policy it validates")):
        if needed not in defaults:
            raise NotebookError(f"{source}: its parameters cell has no {needed}; {why}")
    unknown = sorted(set(parameters or {}) - set(defaults))
    if unknown:
        raise NotebookError(f"{source}: no parameter {', '.join(unknown)}; it takes {', '.join(sorted(defaults))}")
    values = {**defaults, **(parameters or {})}
    policy = load_policy(values["policy"])
    folder = _run_folder(Path(runs_root), policy, source.stem).resolve()
    executed, page = folder / source.name, folder / f"{source.stem}.html"
    try:
        papermill.execute_notebook(
            str(source), str(executed), parameters={**(parameters or {}), "out_dir": str(folder)},
            kernel_name=KERNEL_NAME, kernel_manager_class=CurrentPythonKernelManager,
            cwd=str(cwd) if cwd is not None else None, progress_bar=progress, log_output=False,
        )
    except PapermillExecutionError as error:
        _write_html(executed, page, f"{source.stem} (FAILED): {policy.identity}")
        index, first_line = _failing_cell(executed)
        raise NotebookError(
            f"{source}: cell {index} (counting from 0), `{first_line}`, "
            f"failed: {error.ename}: {error.evalue}\n"
            f"executed notebook with the traceback: {executed}\nreport: {page}") from None
    _write_html(executed, page, f"{source.stem}: {policy.identity}")
    if SWEEP_PARAMETER in defaults:
        return _judge_sweep(source, folder, executed, page)
    main = _judge(source, folder, policy, str(values["policy"]), "policy")
    candidate = None
    if values.get(CANDIDATE_PARAMETER):
        other = str(values[CANDIDATE_PARAMETER])
        candidate = _judge(source, folder, load_policy(other), other, CANDIDATE_PARAMETER)
    return NotebookRun(folder, executed, page, main, candidate)


def _judge(notebook: Path, folder: Path, policy: CompiledPolicy, origin: str, parameter: str) -> Judged:
    evidence = _evidence_in(folder, policy)
    if not evidence:
        raise NotebookError(f"{notebook} ran but wrote no {METRICS_FILE} by {policy.identity} in {folder}; "
                            f"it must backtest the `{parameter}` parameter into out_dir")
    gates = gate_report(policy.identity, policy["promotion"]["gates"], [document for _, document in evidence])
    return Judged(policy, origin, evidence, gates)


def _judge_sweep(notebook: Path, folder: Path, executed: Path, page: Path) -> NotebookRun:
    """A sweep's run: the report read back from its folder, judged by the variant it recommends."""
    from ..policy import compile_file
    from ..sweep import read_sweep

    try:
        report = read_sweep(folder / SWEEP_FOLDER)
    except UsageError as error:
        raise NotebookError(f"{notebook} ran but left no sweep in {folder / SWEEP_FOLDER} ({error}); it must run "
                            "its sweep there") from None
    row = report.closest
    if row is None:
        errors = "; ".join(f"{r.key} on {name}: {text.splitlines()[0]}" for r in report.failed
                           for name, text in r.errors.items())
        raise NotebookError(f"{notebook}: no variant of the sweep finished its backtests ({errors or 'none ran'}); "
                            f"report: {page}")
    evidence = list(zip(row.runs.values(), row.evidence))
    main = Judged(compile_file(row.policy_file), str(row.policy_file), evidence, row.gates)  # type: ignore[arg-type]
    return NotebookRun(folder, executed, page, main, sweep=report)


_INSERTED_TAGS = {"injected-parameters", "papermill-error-cell-tag"}


def _failing_cell(executed: Path) -> tuple[int | str, str]:
    """(index in the notebook as written, first line) of the cell holding the error output.

    Papermill inserts cells (the injected parameters, an error banner), so its own
    index does not match the notebook a person opens; count without those.
    """
    try:
        cells = nbformat.read(str(executed), as_version=4).cells
    except (OSError, ValueError):
        return "?", "?"
    index = 0
    for cell in cells:
        if _INSERTED_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        if any(output.get("output_type") == "error" for output in cell.get("outputs", [])):
            lines = cell.source.strip().splitlines()
            return index, lines[0][:80] if lines else ""
        index += 1
    return "?", "?"


def _write_html(executed: Path, page: Path, title: str) -> None:
    if executed.is_file():
        page.write_text(render_html(nbformat.read(str(executed), as_version=4), title), "utf-8")
