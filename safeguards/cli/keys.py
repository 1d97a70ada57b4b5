"""`safeguards keys init`: the key pair that signs promotions (private) and lets production check them (public)."""

from __future__ import annotations

import argparse

from ..signing import SIGNING_KEY_ENV, TRUSTED_KEYS_ENV, init_keys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("keys", help="make the key pair that signs promotions")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    init = actions.add_parser(
        "init", help="make an Ed25519 key pair: the private key for whoever promotes, the public key for production",
        description="Writes the private key (mode 0600; never overwritten) and its public key into the folder of "
                    "trusted keys production checks registry entries against.")
    init.add_argument("--key", metavar="PATH", help=f"the private key (default: ${SIGNING_KEY_ENV} or "
                                                    "~/.config/safeguards/signing.key); keep it out of the repository")
    init.add_argument("--trusted", metavar="DIR", help=f"the trusted public keys (default: ${TRUSTED_KEYS_ENV} or "
                                                       "~/.config/safeguards/trusted/); copy it to production")
    init.set_defaults(run=run_init)


def run_init(args: argparse.Namespace) -> int:
    private, public, identity = init_keys(args.key, args.trusted)
    print(f"key {identity}\n  private (sign promotions; keep it secret, out of the repository): {private}\n"
          f"  public (production trusts it; copy it to every machine that loads runtime/): {public}")
    return 0
