"""Signatures that make the registry tamper-evident for real: Ed25519, through the `cryptography` package.

A hash chain alone is recomputed by anyone who can edit the files. A promotion
is signed with a private key that lives outside the repository (and outside
``runtime/``, which production can read); production holds only public keys, in
a folder of trusted keys, and refuses an entry that no trusted key signed.

Where the keys live (``safeguards keys init`` writes both):

* the private key: ``$SAFEGUARDS_SIGNING_KEY``, else ``~/.config/safeguards/signing.key``
  (PEM, mode 0600): on the machine of whoever promotes;
* the trusted public keys: ``$SAFEGUARDS_TRUSTED_KEYS``, else ``~/.config/safeguards/trusted/``,
  one ``<key id>.pub`` each: on every machine that loads a promoted policy.

A key id is the first 16 hex digits of the sha256 of the raw public key.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import SigningError

SIGNING_KEY_ENV = "SAFEGUARDS_SIGNING_KEY"
TRUSTED_KEYS_ENV = "SAFEGUARDS_TRUSTED_KEYS"
_HOME = Path("~/.config/safeguards")


def signing_key_path() -> Path:
    return Path(os.environ.get(SIGNING_KEY_ENV) or _HOME / "signing.key").expanduser()


def trusted_keys_path() -> Path:
    return Path(os.environ.get(TRUSTED_KEYS_ENV) or _HOME / "trusted").expanduser()


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    """A private key, to sign registry entries at promotion."""

    key: Ed25519PrivateKey
    path: Path

    @property
    def key_id(self) -> str:
        return key_id(self.key.public_key())

    def sign(self, message: bytes) -> str:
        return self.key.sign(message).hex()

    @classmethod
    def load(cls, path: str | Path | None = None) -> Signer:
        where = Path(path).expanduser() if path else signing_key_path()
        try:
            key = serialization.load_pem_private_key(where.read_bytes(), password=None)
        except FileNotFoundError:
            raise SigningError(f"no signing key at {where}: a promotion is signed; make a key pair with "
                               f"`safeguards keys init` (or point {SIGNING_KEY_ENV} at yours)") from None
        except (ValueError, TypeError) as error:
            raise SigningError(f"{where}: not an unencrypted Ed25519 private key in PEM ({error})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningError(f"{where}: the key is not an Ed25519 key; make one with `safeguards keys init`")
        return cls(key, where)


@dataclass(frozen=True)
class TrustedKeys:
    """The public keys production accepts signatures from, by key id."""

    keys: dict[str, Ed25519PublicKey]
    folder: Path

    @classmethod
    def load(cls, folder: str | Path | None = None) -> TrustedKeys:
        where = Path(folder).expanduser() if folder else trusted_keys_path()
        keys: dict[str, Ed25519PublicKey] = {}
        for path in sorted(where.glob("*.pub")) if where.is_dir() else []:
            try:
                public = serialization.load_pem_public_key(path.read_bytes())
            except OSError as error:
                raise SigningError(f"{path}: cannot be read ({error.strerror}); fix its permissions") from None
            except ValueError as error:
                raise SigningError(f"{path}: not a public key in PEM ({error}); remove it or replace it") from None
            if isinstance(public, Ed25519PublicKey):
                keys[key_id(public)] = public
        return cls(keys, where)

    def verify(self, signer_id: object, message: bytes, signature: object, where: str) -> None:
        """Raise SigningError unless a trusted key with id ``signer_id`` made ``signature`` over ``message``."""
        if not isinstance(signature, str) or not isinstance(signer_id, str):
            raise SigningError(f"{where}: the entry is not signed; only signed promotions are loaded "
                               "(promote again with a key from `safeguards keys init`)")
        public = self.keys.get(signer_id)
        if public is None:
            raise SigningError(f"{where}: signed by key {signer_id}, which is not among the trusted keys in "
                               f"{self.folder}; add its .pub there if that key is yours ({TRUSTED_KEYS_ENV})")
        try:
            public.verify(bytes.fromhex(signature), message)
        except (InvalidSignature, ValueError):
            raise SigningError(f"{where}: the signature does not match the entry: it was changed after it "
                               "was signed") from None


def init_keys(private: str | Path | None = None, trusted: str | Path | None = None) -> tuple[Path, Path, str]:
    """Make a key pair: the private key (refusing to overwrite one) and its public key among the trusted."""
    private_path = Path(private).expanduser() if private else signing_key_path()
    trusted_dir = Path(trusted).expanduser() if trusted else trusted_keys_path()
    if private_path.exists():
        raise SigningError(f"{private_path} exists: a signing key is never overwritten; move it away first, "
                           "or give another path with --key")
    key = Ed25519PrivateKey.generate()
    identity = key_id(key.public_key())
    public_path = trusted_dir / f"{identity}.pub"
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        private_path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        trusted_dir.mkdir(parents=True, exist_ok=True)
        public_path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                              serialization.PublicFormat.SubjectPublicKeyInfo))
    except OSError as error:
        raise SigningError(f"cannot write the key pair ({error.filename}: {error.strerror}); give folders you can "
                           "write with --key and --trusted") from None
    return private_path, public_path, identity
