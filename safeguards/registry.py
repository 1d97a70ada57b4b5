"""The runtime registry: what production loads, and the tamper-evident history of how it got there.

Layout under the runtime root (``runtime/`` by default)::

    <name>/<version>.json    the compiled policy exactly as promoted
    <name>/registry.jsonl    one JSON line per promotion or rollback
    <name>/registry.head     the signed head: how many entries there are, and the last one's hash

Each registry line carries the sha256 of the line before it (``previous``) and
of itself (``entry_hash``), and an Ed25519 signature of that hash by the key of
whoever promoted (:mod:`.signing`): anyone can recompute a hash, only a key
holder can sign one. The signed head says how long the registry is, so a
deleted last line (production silently moving back a version) is seen. Loading
refuses an unsigned or wrongly signed entry, a registry shorter or longer than
its head, and an artifact that is a symlink or lies outside the runtime root.
Appends hold an exclusive lock and are fsynced. A name and version, once
promoted, keeps its policy hash forever.

A head can still be replaced by an older signed head together with the lines
after it removed; that needs a record outside this folder (the sidecar's
journal records each version it loads).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import CompiledPolicyError, RegistryError, SigningError
from .policy.compiled import CompiledPolicy, canonical_json
from .signing import Signer, TrustedKeys

REGISTRY_FILE = "registry.jsonl"
HEAD_FILE = "registry.head"
ENTRY_FIELDS = ("seq", "action", "name", "version", "policy_hash", "evidence_digest", "by", "approved_by",
                "weakened", "reason", "at", "previous", "key_id")


#: Fields an entry may have (later releases' additions): hashed, and so signed, when present, so that older
#: entries keep their hashes and removing one from a newer entry breaks its signature.
OPTIONAL_FIELDS = ("evidence",)


def entry_hash(entry: dict[str, Any]) -> str:
    fields = {k: entry.get(k) for k in ENTRY_FIELDS} | {k: entry[k] for k in OPTIONAL_FIELDS if k in entry}
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


def _head_message(name: str, seq: int, last_hash: str) -> bytes:
    return f"safeguards registry head\n{name}\n{seq}\n{last_hash}".encode()


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Registry:
    """One policy name's folder in the runtime root; ``trusted``: the public keys its entries must be signed by."""

    root: Path
    name: str
    trusted: TrustedKeys | None = None

    def _trusted(self) -> TrustedKeys:
        return self.trusted if self.trusted is not None else TrustedKeys.load()

    @property
    def folder(self) -> Path:
        return Path(self.root) / self.name

    @property
    def path(self) -> Path:
        return self.folder / REGISTRY_FILE

    def artifact_path(self, version: int) -> Path:
        return self.folder / f"{version}.json"

    @property
    def head_path(self) -> Path:
        return self.folder / HEAD_FILE

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, after checking each line's hash, signature and link to the line before, and the head."""
        trusted = self._trusted()
        if not self.path.exists():
            if self.head_path.exists():
                raise RegistryError(f"{self.path}: missing, but {self.head_path} says entries were signed; "
                                    "restore the registry from a backup")
            return []
        entries: list[dict[str, Any]] = []
        previous = None
        for number, raw in enumerate(self.path.read_bytes().splitlines(), start=1):
            where = f"{self.path}:{number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise RegistryError(f"{where}: not UTF-8 (byte 0x{raw[error.start]:02x} at column {error.start + 1}); "
                                    "the registry was edited by hand or damaged: restore it from backup") from None
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as error:
                raise RegistryError(f"{where}: not valid JSON ({error.msg}); the registry was edited by hand or truncated") from None
            if not isinstance(entry, dict) or entry.get("entry_hash") != entry_hash(entry):
                raise RegistryError(f"{where}: entry does not match its hash; the registry was edited after it was written")
            if entry.get("previous") != previous:
                raise RegistryError(f"{where}: entry does not follow the one before it; registry lines were removed or reordered")
            if entry.get("name") != self.name:
                raise RegistryError(f"{where}: entry is for policy {entry.get('name')!r}, not {self.name!r}")
            trusted.verify(entry.get("key_id"), entry["entry_hash"].encode(), entry.get("signature"), where)
            previous = entry["entry_hash"]
            entries.append(entry)
        self._check_head(entries, trusted)
        self._check_hashes_never_change(entries)
        return entries

    def _check_head(self, entries: list[dict[str, Any]], trusted: TrustedKeys) -> None:
        if not entries:
            return
        try:
            head = json.loads(self.head_path.read_text("utf-8"))
        except FileNotFoundError:
            raise RegistryError(f"{self.head_path}: missing; the registry's length cannot be checked "
                                "(a deleted line would go unseen): restore it from a backup") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise RegistryError(f"{self.head_path}: unreadable ({error}); restore it from a backup") from None
        if not isinstance(head, dict) or not isinstance(head.get("seq"), int) or not isinstance(head.get("entry_hash"), str):
            raise RegistryError(f"{self.head_path}: not a registry head; restore it from a backup")
        trusted.verify(head.get("key_id"), _head_message(self.name, head["seq"], head["entry_hash"]),
                       head.get("signature"), str(self.head_path))
        if head["seq"] > len(entries):
            raise RegistryError(f"{self.path}: holds {len(entries)} entries but its signed head says {head['seq']}: "
                                "the last lines were removed (production would silently move back a version); "
                                "restore the registry from a backup")
        # Entries after the head's are signed each (a crash between appending one and re-signing the head leaves
        # one); the head must name the entry at its own position.
        if head["seq"] < 1 or entries[head["seq"] - 1]["entry_hash"] != head["entry_hash"]:
            raise RegistryError(f"{self.path}: entry {head['seq']} is not the one the signed head names; "
                                "the history was rewritten: restore the registry from a backup")

    def _check_hashes_never_change(self, entries: list[dict[str, Any]]) -> None:
        promoted: dict[int, str] = {}
        for entry in entries:
            version, digest = entry["version"], entry["policy_hash"]
            if entry["action"] == "promote":
                if promoted.setdefault(version, digest) != digest:
                    raise RegistryError(f"{self.path}: version {version} was promoted with two different hashes")
            elif promoted.get(version) != digest:
                raise RegistryError(f"{self.path}: rollback to version {version}, which was never promoted with hash {digest[:12]}")

    def promoted_hash(self, version: int) -> str | None:
        for entry in self.entries():
            if entry["action"] == "promote" and entry["version"] == version:
                return entry["policy_hash"]
        return None

    def current(self) -> dict[str, Any] | None:
        """The entry production follows: the last promotion or rollback."""
        entries = self.entries()
        return entries[-1] if entries else None

    def load(self, version: int | None = None) -> CompiledPolicy:
        """A promoted policy (the current one by default), refusing any artifact that differs from what was promoted."""
        if version is None:
            head = self.current()
            if head is None:
                raise RegistryError(f"{self.folder}: nothing has been promoted under this name")
            version = head["version"]
        expected = self.promoted_hash(version)
        if expected is None:
            raise RegistryError(f"{self.folder}: version {version} was never promoted")
        path = self.artifact_path(version)
        self._check_inside(path)
        try:
            policy = CompiledPolicy.read(path)
        except FileNotFoundError:
            raise RegistryError(f"{path}: promoted artifact is missing") from None
        except CompiledPolicyError as error:
            raise RegistryError(f"{path}: promoted artifact is damaged: {error}") from None
        if policy.hash != expected or policy.name != self.name or policy.version != version:
            raise RegistryError(f"{path}: artifact is {policy.identity}, but the registry promoted {self.name}@{version}#{expected[:12]}")
        return policy

    def _check_inside(self, path: Path) -> None:
        """An artifact is a plain file in this name's folder: not a symlink, not anywhere else."""
        if path.is_symlink():
            raise RegistryError(f"{path}: the promoted artifact is a symlink (to {os.readlink(path)}); production "
                                "loads only the file promotion wrote: promote again")
        root = Path(self.root).resolve()
        if path.exists() and root not in path.resolve().parents:
            raise RegistryError(f"{path}: lies outside the runtime root {root}; promote again")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def record(self, action: str, policy_hash: str, version: int, by: str, reason: str, signer: Signer,
               evidence_digest: str | None = None, artifact: CompiledPolicy | None = None,
               approved_by: str | None = None, weakened: list[str] | None = None,
               evidence: dict[str, Any] | None = None) -> dict[str, Any]:
        """Append one signed entry (writing the artifact first, if given) and re-sign the head, under the lock.

        ``evidence``: each evidence run and the gates it backed (:func:`safeguards.promotion.evidence_record`).
        """
        if signer.key_id not in self._trusted().keys:
            raise SigningError(f"the signing key {signer.key_id} ({signer.path}) is not among the trusted keys in "
                               f"{self._trusted().folder}: production would refuse this entry; add its .pub there")
        with self._locked():
            entries = self.entries()
            earlier = next((e["policy_hash"] for e in entries if e["action"] == "promote" and e["version"] == version), None)
            if action == "promote" and earlier not in (None, policy_hash):
                raise RegistryError(f"{self.name}@{version} was already promoted as #{earlier[:12]}; a promoted version never changes: raise metadata.version")
            if artifact is not None:
                _write_atomically(self.artifact_path(version), artifact.to_json())
            entry: dict[str, Any] = {
                "seq": len(entries) + 1, "action": action, "name": self.name, "version": version,
                "policy_hash": policy_hash, "evidence_digest": evidence_digest, "by": by,
                "approved_by": approved_by, "weakened": weakened or [], "reason": reason,
                "at": utc_now(), "previous": entries[-1]["entry_hash"] if entries else None, "key_id": signer.key_id,
            }
            if evidence is not None:
                entry["evidence"] = evidence
            entry["entry_hash"] = entry_hash(entry)
            entry["signature"] = signer.sign(entry["entry_hash"].encode())
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, sort_keys=True) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            head = {"seq": entry["seq"], "entry_hash": entry["entry_hash"], "key_id": signer.key_id,
                    "signature": signer.sign(_head_message(self.name, entry["seq"], entry["entry_hash"]))}
            _write_atomically(self.head_path, json.dumps(head, sort_keys=True) + "\n")
            return entry


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def is_runtime_folder(path: Path) -> bool:
    return path.is_dir() and (path / REGISTRY_FILE).exists()


def load_runtime(path: str | Path) -> CompiledPolicy:
    """`runtime/<name>` -> its current promoted policy, verified."""
    folder = Path(path)
    return Registry(folder.parent, folder.name).load()
