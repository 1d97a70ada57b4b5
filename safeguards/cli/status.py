"""`safeguards status NAME`: what production runs now, since when, by whom, on which evidence, and the history."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import RegistryError
from ..registry import Registry


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("status", help="what is live for a policy name, and the registry's history")
    parser.add_argument("name", metavar="NAME", help="the policy name (runtime/NAME)")
    parser.add_argument("--runtime", default="runtime", metavar="DIR", help="runtime root (default: runtime)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    registry = Registry(Path(args.runtime), args.name)
    entries = registry.entries()  # verified: hashes, signatures, the signed head
    if not entries:
        raise RegistryError(f"{registry.folder}: nothing has been promoted under the name {args.name}")
    policy = registry.load()
    head = entries[-1]  # the last promotion or rollback made this version live
    print(f"live: {policy.identity} since {head['at']} ({head['action']} by {head['by']}"
          + (f", approved by {head['approved_by']}" if head.get("approved_by") else "") + ")")
    print(f"  reason: {head['reason']}")
    if head.get("evidence_digest"):
        print(f"  evidence digest: {head['evidence_digest']}")
    for line in _evidence_lines(head.get("evidence")):
        print(line)
    print(f"  artifact: {registry.artifact_path(head['version'])}; every entry signed and checked")
    print("history:")
    for entry in entries:
        approved = f", approved by {entry['approved_by']}" if entry.get("approved_by") else ""
        print(f"  {entry['seq']:>3}  {entry['at']}  {entry['action']:<8} v{entry['version']} "
              f"#{entry['policy_hash'][:12]}  by {entry['by']}{approved} (key {entry['key_id']}): {entry['reason']}")
        for change in entry.get("weakened") or []:
            print(f"       loosened: {change}")
    return 0


def _evidence_lines(evidence: dict | None) -> list[str]:
    """Each evidence run and the gates it backed (entries from before the registry recorded it have none)."""
    if not evidence:
        return []
    lines = []
    for run in evidence.get("runs", []):
        span = f" over {run['broker_span_ns'] / 1e9:g}s" if run.get("broker_span_ns") else ""
        lines.append(f"  evidence #{run['digest'][:12]}: {run['kind']}, {run.get('events') or 0:,} events{span}, "
                     f"made by {run.get('made_by') or '?'} ({run['folder']})")
    for gate, digests in evidence.get("gates", {}).items():
        backed = ", ".join(f"#{digest[:12]}" for digest in digests) or "no evidence"
        lines.append(f"    gate {gate}: judged on {backed}")
    return lines
