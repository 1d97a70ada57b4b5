"""The `safeguards` command: one sub-module per command, each registering itself.

Exit codes (DESIGN section 7): 0 ok, 1 the run found what it was asked to fail
on (gates), 2 bad input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import PolicyError, PromotionRefused, SafeguardsError

EXIT_OK = 0
EXIT_FOUND = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C

#: Which module registers each command (each module defines `register(subparsers)`), so a
#: command imports only its own module: every module's imports together (papermill, pyarrow,
#: the simulator) cost ~0.5 s per call. Adding a command is adding a line here.
COMMAND_MODULE = {
    "validate": "policy_commands", "compile": "policy_commands", "diff": "policy_commands",
    "schema": "policy_commands", "explain": "policy_commands",
    "ingest": "ingest", "run": "run", "promote": "promote", "rollback": "promote",
    "simulate": "simulate", "backtest": "backtest", "notebook": "notebook",
    "status": "status", "keys": "keys", "sweep": "sweep",
}
#: The command modules, in the order the full parser lists their commands.
COMMAND_MODULES = tuple(dict.fromkeys(COMMAND_MODULE.values()))


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or (``only``) one module's commands: `run` restarting after a crash should not import papermill."""
    parser = argparse.ArgumentParser(
        prog="safeguards",
        description="Safeguard policies for a live options-trading system.",
    )
    parser.add_argument("--version", action="version", version=f"safeguards {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in (only,) if only is not None else COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    _describe_commands(subparsers)
    return parser


def _describe_commands(subparsers: argparse._SubParsersAction) -> None:
    """`safeguards CMD --help` opens with the line the command list shows, where the command gives no longer text."""
    for choice in subparsers._choices_actions:
        command = subparsers.choices[choice.dest]
        if not command.description and choice.help:
            command.description = choice.help[0].upper() + choice.help[1:] + "."


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(COMMAND_MODULE.get(arguments[0]) if arguments else None)
    args = parser.parse_args(arguments)
    try:
        return int(args.run(args) or 0)
    except PromotionRefused as error:
        print(f"refused: {error}", file=sys.stderr)
        return EXIT_FOUND
    except PolicyError as error:
        print(error.render(snippet=True), file=sys.stderr)
        n = len(error.problems)
        print(f"{n} problem{'s' if n != 1 else ''} found.", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SafeguardsError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
