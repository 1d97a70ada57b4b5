"""`safeguards promote` and `safeguards rollback`: the only ways a policy reaches or leaves production."""

from __future__ import annotations

import argparse

from ..policy import load_policy
from ..promotion import promote, read_evidence, rollback
from ..signing import SIGNING_KEY_ENV, Signer


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("promote", help="check a policy's evidence against its gates and write it into the runtime")
    parser.add_argument("policy", metavar="RULES", help="the policy (YAML or compiled JSON)")
    parser.add_argument("--evidence", action="append", default=[], metavar="RUN_DIR", required=True,
                        help="a run folder with metrics.json, or a shadow's --shadow-out folder (live traffic); "
                             "repeat: a labeled run, and a clean baseline or a shadow")
    parser.add_argument("--by", required=True, metavar="NAME", help="who promotes")
    parser.add_argument("--reason", required=True, metavar="TEXT", help="why")
    parser.add_argument("--approved-by", metavar="NAME",
                        help="a second person approving a candidate that loosens what production enforces")
    parser.add_argument("--runtime", default="runtime", metavar="DIR", help="runtime root (default: runtime)")
    parser.add_argument("--key", metavar="PATH", help=f"the private signing key (default: ${SIGNING_KEY_ENV} or "
                                                      "~/.config/safeguards/signing.key; see `safeguards keys init`)")
    parser.set_defaults(run=run_promote)

    back = subparsers.add_parser("rollback", help="re-point production to an earlier promoted version")
    back.add_argument("name", metavar="NAME", help="the policy name (runtime/NAME)")
    back.add_argument("--to", type=int, required=True, metavar="VERSION", dest="version", help="a promoted version")
    back.add_argument("--by", required=True, metavar="NAME", help="who rolls back")
    back.add_argument("--reason", required=True, metavar="TEXT", help="why")
    back.add_argument("--runtime", default="runtime", metavar="DIR", help="runtime root (default: runtime)")
    back.add_argument("--key", metavar="PATH", help="the private signing key (as for promote)")
    back.set_defaults(run=run_rollback)


def run_promote(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    evidence = [read_evidence(folder) for folder in args.evidence]
    entry, results = promote(policy, evidence, args.by, args.reason, args.runtime, signer=Signer.load(args.key),
                             approved_by=args.approved_by)
    for result in results:
        print(f"  {result.render()}")
    for change in entry["weakened"]:
        print(f"  loosening approved by {entry['approved_by']}: {change}")
    print(f"promoted {policy.identity} -> {args.runtime}/{policy.name}/{policy.version}.json "
          f"(registry entry {entry['seq']}, signed by key {entry['key_id']})")
    return 0


def run_rollback(args: argparse.Namespace) -> int:
    entry = rollback(args.name, args.version, args.by, args.reason, args.runtime, signer=Signer.load(args.key))
    print(f"{args.name} now runs version {entry['version']} (#{entry['policy_hash'][:12]}), registry entry {entry['seq']}")
    return 0
