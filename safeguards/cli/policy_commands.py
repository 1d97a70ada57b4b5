"""Commands on policy files: validate, compile, diff, schema, explain."""

from __future__ import annotations

import argparse
import sys

from ..errors import PolicyError, Problem, UsageError
from ..policy import compile_file, load_policy, schema_text
from ..policy.diff import diff_policies, render_diff
from ..policy.direction import Direction, judge
from . import EXIT_FOUND
from ..policy.explain import explain


def register(subparsers: argparse._SubParsersAction) -> None:
    validate = subparsers.add_parser("validate", help="check policy files; report every problem as file:line:col")
    validate.add_argument("rules", nargs="+", metavar="RULES.yaml", help="policy files to check")
    validate.set_defaults(run=run_validate)

    compile_ = subparsers.add_parser("compile", help="compile a policy into its deterministic JSON artifact")
    compile_.add_argument("rules", metavar="RULES.yaml", help="the policy to compile")
    compile_.add_argument("-o", "--output", metavar="OUT.json", help="where to write the artifact (default: standard output)")
    compile_.set_defaults(run=run_compile)

    diff = subparsers.add_parser(
        "diff", help="what changed between two policies, in policy terms",
        description="What changed between two policies, in policy terms, each change marked as tightening, "
                    "loosening or neutral (loosened limits and weakened gates first).")
    diff.add_argument("old", metavar="OLD", help="the policy as it is (YAML, or a compiled .json)")
    diff.add_argument("new", metavar="NEW", help="the policy as proposed")
    diff.add_argument("--fail-on", choices=("loosening", "change"),
                      help="exit 1 if any change loosens the policy (or, with 'change', if anything changed): for CI")
    diff.set_defaults(run=run_diff)

    schema = subparsers.add_parser("schema", help="print the policy JSON Schema (for editors)")
    schema.set_defaults(run=run_schema)

    explain_ = subparsers.add_parser("explain", help="the policy in plain English")
    explain_.add_argument("policy", metavar="POLICY", help="a policy file (YAML, or a compiled .json)")
    explain_.set_defaults(run=run_explain)


def run_validate(args: argparse.Namespace) -> int:
    problems: list[Problem] = []
    for path in args.rules:
        try:
            policy = compile_file(path)
        except PolicyError as error:
            problems += error.problems
        else:
            print(f"{path}: ok ({policy.identity})")
    if problems:
        raise PolicyError(problems)
    return 0


def run_compile(args: argparse.Namespace) -> int:
    policy = compile_file(args.rules)
    if args.output:
        try:
            policy.write(args.output)
        except OSError as error:
            raise UsageError(f"cannot write {args.output}: {error.strerror}; check the folder exists and is writable") from None
        print(f"{args.output}: {policy.identity}", file=sys.stderr)
    else:
        sys.stdout.write(policy.to_json())
    return 0


def run_diff(args: argparse.Namespace) -> int:
    old, new = load_policy(args.old), load_policy(args.new)
    print(render_diff(old, new))
    directions = [judge(change) for change in diff_policies(old, new)]
    if args.fail_on == "change" and directions:
        return EXIT_FOUND
    if args.fail_on == "loosening" and Direction.LOOSENING in directions:
        return EXIT_FOUND
    return 0


def run_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(schema_text())
    return 0


def run_explain(args: argparse.Namespace) -> int:
    sys.stdout.write(explain(load_policy(args.policy)))
    return 0
