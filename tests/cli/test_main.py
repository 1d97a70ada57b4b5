"""The command table: each command is found in the one module that registers it, and imports only that."""

import argparse
import subprocess
import sys

from safeguards.cli import COMMAND_MODULE, COMMAND_MODULES, build_parser


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(subparsers.choices)


def test_each_module_registers_exactly_the_commands_mapped_to_it():
    for module in COMMAND_MODULES:
        assert _commands(build_parser(module)) == {c for c, m in COMMAND_MODULE.items() if m == module}, module
    assert _commands(build_parser()) == set(COMMAND_MODULE)


def test_ingest_does_not_import_the_notebook_runner_or_the_simulator():
    probe = ("import sys\nfrom safeguards.cli import main\ntry:\n    main(['ingest', '--help'])\n"
             "except SystemExit:\n    pass\nprint(sorted(m for m in ('papermill', 'safeguards.simulator') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"
