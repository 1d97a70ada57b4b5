"""The validation notebooks, really executed by papermill in a kernel of the test environment.

Small simulated logs keep each run to seconds. The run folders must be
evidence promotion accepts; a failing cell must be named with its error.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess

import nbformat
import pytest

from safeguards import load_policy
from safeguards.cli import main
from safeguards.cli.notebook import print_sweep
from safeguards.notebook import find_notebook, parse_value, run_notebook
from safeguards.notebook.runner import notebook_defaults
from safeguards.promotion import promote, read_evidence
from safeguards.sweep import parse_varies, plan_variants

from .backtesting import CANDIDATE, REFERENCE, ROOT, simulated


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("logs")
    return {"labeled": simulated(folder, "labeled", seed=11, groups=80),
            "clean": simulated(folder, "clean", seed=12, groups=40, faults="none")}


def test_parameter_cells_default_to_the_bundled_sample_data():
    for name in ("backtest", "compare", "sweep"):
        defaults = notebook_defaults(find_notebook(name, ROOT / "notebooks"))
        assert (ROOT / defaults["policy"]).is_file() and (ROOT / defaults["events"]).is_file()
        assert "out_dir" in defaults
    assert (ROOT / notebook_defaults(ROOT / "notebooks" / "compare.ipynb")["other"]).is_file()
    sweep = notebook_defaults(ROOT / "notebooks" / "sweep.ipynb")
    assert (ROOT / sweep["baseline"]).is_file() and len(plan_variants(ROOT / sweep["policy"], parse_varies(sweep["vary"]))) == 4


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory):
    """The sweep notebook with its defaults (four variants on the bundled sample and clean baseline), on two Ray workers."""
    return run_notebook("sweep", {"policy": str(REFERENCE), "workers": 2}, runs_root=tmp_path_factory.mktemp("sweep") / "runs",
                        cwd=ROOT)


def test_sweep_notebook_names_the_best_variant_and_how_to_promote_it(tmp_path, sweep_run):
    run = sweep_run
    assert run.sweep is not None and len(run.sweep.rows) == 4 and not run.sweep.failed
    best = run.sweep.best
    assert best is not None and best.settings == {"hedging.max_depth": "2", "clock.max_skew": "500ms"}
    assert run.main.policy.hash == load_policy(best.policy_file).hash and run.main.gates.verdict.value == "PASS"
    executed = nbformat.read(str(run.notebook), as_version=4)
    outputs = [o for c in executed.cells for o in c.get("outputs", [])]
    assert all(o.get("output_type") != "error" for o in outputs)
    streams = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "local Ray runtime, 2 workers: 8 backtests run" in streams and "Warning" not in streams
    page = run.html.read_text()
    assert "data:image/png;base64," in page and "data-verdict='PASS'" in page
    assert "best of 4 variants (hedging.max_depth=2 clock.max_skew=500ms)" in page
    printed = io.StringIO()
    assert print_sweep(run, printed) == 0
    printed = printed.getvalue()
    assert printed.startswith(f"PASS: sweep of 4 variants (hedging.max_depth=2,3, clock.max_skew=20ms,500ms): best {best.identity}")
    assert f"to promote: {run.sweep.promote_command(best)}" in printed and f"report: {run.html}" in printed
    evidence = [read_evidence(folder) for folder, _ in run.main.evidence]
    entry, _ = promote(run.main.policy, evidence, by="tester", approved_by="second", reason="sweep notebook",
                       runtime_root=tmp_path / "runtime")
    assert entry["policy_hash"] == run.main.policy.hash


def test_sweep_notebook_says_when_no_variant_passes(tmp_path, capsys):
    """A hedge depth of 3 lets the sample's too-deep hedges through: every variant misses faults."""
    code = main(["notebook", "run", "sweep", "--runs", str(tmp_path / "runs"), "-p", "policy", str(REFERENCE),
                 "-p", "vary", "hedging.max_depth=3 clock.max_skew=20ms,500ms", "-p", "workers", "0",
                 "-p", "events", str(ROOT / "data" / "sample.jsonl"), "-p", "baseline", str(ROOT / "data" / "clean.jsonl")])
    printed = capsys.readouterr().out
    assert code == 1
    assert printed.startswith("FAIL: sweep of 2 variants (hedging.max_depth=3, clock.max_skew=20ms,500ms): "
                              "no variant passes every gate")
    assert "no variant passes every gate: none to promote" in printed and "to promote:" not in printed
    page = next((tmp_path / "runs").rglob("sweep.html")).read_text()
    assert "data-verdict='FAIL'" in page and "no variant of 2 passes every gate; the closest (" in page


@pytest.fixture(scope="module")
def bundled_run(tmp_path_factory):
    """The backtest notebook with its defaults: the bundled sample (every fault kind) and clean baseline."""
    return run_notebook("backtest", {"policy": str(REFERENCE)}, runs_root=tmp_path_factory.mktemp("bundled") / "runs",
                        cwd=ROOT)


def test_backtest_notebook_makes_a_promotable_run_folder(tmp_path, bundled_run):
    run = bundled_run
    policy = load_policy(REFERENCE)
    assert run.folder.parent.parent.parent.name == "runs" and run.folder.parent.name == str(policy.version)
    assert run.notebook.is_file() and run.html.is_file() and (run.folder / "metrics.json").is_file()
    executed = nbformat.read(str(run.notebook), as_version=4)
    assert all(o.get("output_type") != "error" for c in executed.cells for o in c.get("outputs", []))
    assert "data:image/png;base64," in run.html.read_text()
    assert {doc["dataset"]["kind"] for _, doc in run.main.evidence} == {"labeled", "clean"}
    assert run.main.gates.verdict.value == "PASS" and not run.main.gates.failed
    evidence = [read_evidence(folder) for folder, _ in run.main.evidence]
    entry, _ = promote(policy, evidence, by="tester", reason="notebook run", runtime_root=tmp_path / "runtime")
    assert entry["policy_hash"] == policy.hash


def test_compare_notebook_judges_the_candidate_and_shows_both_sides(tmp_path, logs, capsys):
    """The exit status is the candidate's (B, `other`): it allows one more hedge level, so it misses depth faults."""
    code = main(["notebook", "run", "compare", "--runs", str(tmp_path / "runs"), "-p", "policy", str(REFERENCE),
                 "-p", "other", str(CANDIDATE), "-p", "events", str(logs["labeled"])])
    printed = capsys.readouterr().out
    folder = next((tmp_path / "runs" / "multileg_options" / "1").iterdir())
    assert (folder / "compare.ipynb").is_file() and (folder / "compare.html").is_file()
    comparison = json.loads((folder / "comparison.json").read_text())
    assert comparison["b"] == load_policy(CANDIDATE).identity
    assert f"report: {folder / 'compare.html'}" in printed
    assert f"policy {load_policy(REFERENCE).identity}" in printed and f"candidate {load_policy(CANDIDATE).identity}" in printed
    missed = json.loads((folder / "other" / "metrics.json").read_text())["metrics"]["missed_faults"]
    assert missed > 0, "the labeled log should hold hedge-depth faults the candidate lets through"
    assert code == 1
    assert printed.startswith("NOT ENOUGH EVIDENCE: policy") or printed.startswith("PASS: policy")
    assert "FAIL: candidate" in printed and "to promote" not in printed
    assert "data-verdict='FAIL'" in (folder / "compare.html").read_text()


_PROBE = """<!doctype html><html><body><iframe id="report" src="{page}" style="width:1200px;height:900px"></iframe>
<pre id="seen">pending</pre><script>
document.getElementById("report").addEventListener("load", () => {{
  const page = document.getElementById("report").contentDocument;
  const images = [...page.images];
  const first = page.querySelector(".cell");
  document.getElementById("seen").textContent = JSON.stringify({{
    verdicts: [...page.querySelectorAll(".banner")].map(b => b.dataset.verdict),
    banner_first: !!(first && first.querySelector(".banner")),
    images: images.length, loaded: images.filter(i => i.complete && i.naturalWidth > 0).length,
    code: page.body.innerText.includes("import ") || page.body.innerText.includes("shape: ("),
    untitled: [...page.querySelectorAll("table")].length - [...page.querySelectorAll("table caption")].length}});
}});
</script></body></html>"""


def _seen_in_chromium(page) -> dict:
    """What headless Chromium shows of a report: banners, whether every picture loaded, code or raw frames on the page."""
    probe = page.parent / "probe.html"
    probe.write_text(_PROBE.format(page=page.name))
    shown = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
         "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120, check=True).stdout
    probe.unlink()
    return json.loads(shown.split('<pre id="seen">', 1)[1].split("</pre>", 1)[0].replace("&quot;", '"'))


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (CI installs Debian's chromium package)")
def test_reports_render_in_a_real_browser_verdict_first_every_figure_loaded(tmp_path, logs, bundled_run, sweep_run):
    backtest = bundled_run
    compare = run_notebook("compare", {"policy": str(REFERENCE), "other": str(CANDIDATE),
                                       "events": str(logs["labeled"])}, runs_root=tmp_path / "runs")
    seen = _seen_in_chromium(backtest.html)
    assert seen["verdicts"] == ["PASS"] and seen["banner_first"]
    assert seen["images"] >= 4 and seen["loaded"] == seen["images"]
    assert not seen["code"] and seen["untitled"] == 0
    seen = _seen_in_chromium(compare.html)
    assert seen["verdicts"][0] == "FAIL" and len(seen["verdicts"]) == 2 and seen["banner_first"]
    assert seen["images"] >= 1 and seen["loaded"] == seen["images"]
    assert not seen["code"] and seen["untitled"] == 0
    seen = _seen_in_chromium(sweep_run.html)
    assert seen["verdicts"] == ["PASS"] and seen["banner_first"]
    assert seen["images"] >= 1 and seen["loaded"] == seen["images"]
    assert not seen["code"] and seen["untitled"] == 0


def test_a_failing_cell_is_named_with_its_error(tmp_path, capsys):
    code = main(["notebook", "run", "backtest", "--runs", str(tmp_path / "runs"),
                 "-p", "events", str(tmp_path / "missing.jsonl"), "-p", "baseline", ""])
    err = capsys.readouterr().err
    assert code == 2
    assert "cell 3 (counting from 0), `compiled = load_policy(policy)`" in err
    assert "UsageError" in err and "missing.jsonl: no such file" in err
    assert list((tmp_path / "runs").rglob("backtest.html"))


def test_unknown_notebook_or_parameter_is_bad_input(tmp_path, capsys):
    assert main(["notebook", "run", "nosuch", "--runs", str(tmp_path)]) == 2
    assert "known: backtest, compare, sweep" in capsys.readouterr().err
    assert main(["notebook", "run", "backtest", "--runs", str(tmp_path), "-p", "colour", "red"]) == 2
    assert "no parameter colour" in capsys.readouterr().err


def test_parameter_values_are_typed():
    assert [parse_value(v) for v in ("3", "0.5", "true", "none", "data/x.jsonl")] == [3, 0.5, True, None, "data/x.jsonl"]


def test_the_kernel_is_this_python_whatever_kernelspecs_say(tmp_path, monkeypatch):
    """A user-level `python3` kernelspec pointing elsewhere must not decide which Python runs the notebook."""
    import sys

    from safeguards.notebook.kernel import KERNEL_NAME, CurrentPythonKernelManager

    bogus = tmp_path / "kernels" / "python3"
    bogus.mkdir(parents=True)
    (bogus / "kernel.json").write_text(json.dumps({"argv": ["/nonexistent/python", "-m", "ipykernel_launcher"],
                                                   "display_name": "elsewhere", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    spec = CurrentPythonKernelManager(kernel_name=KERNEL_NAME).kernel_spec
    assert spec.argv[:3] == [sys.executable, "-m", "ipykernel_launcher"]
