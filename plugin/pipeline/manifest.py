"""Which documents are fully indexed, by content hash: the ingestion's commit log.

A document enters the manifest only after all of its points are written, so an interrupted
ingestion never reads as complete: the next run sees the missing documents and re-does them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from llama_index.core import Document

from ragdrop.core.files import atomic_write_text, private_dir, read_json

MANIFEST_VERSION = 1


class ManifestError(ValueError):
    """The manifest file is unreadable or was written by an incompatible version."""


def document_hash(document: Document) -> str:
    """SHA-256 of a document's text and metadata (canonical JSON)."""
    payload = json.dumps(
        {"text": document.text, "metadata": document.metadata},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


class IngestManifest:
    """A JSON map ``document id -> content hash`` plus the settings that shaped the index.

    Args:
        path: the manifest file; written atomically (temp file + rename), read without
            following a symlink; its directory must be private (`private_dir`).
        fingerprint: everything that changes the stored vectors (model, chunking, ...). A
            manifest written under another fingerprint is treated as empty.
    """

    def __init__(self, path: Path, fingerprint: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self.fingerprint = dict(fingerprint)
        self.documents: dict[str, str] = {}
        self.fingerprint_changed = False
        # The settings the file was written under (differs from ``fingerprint`` when changed).
        self.stored_fingerprint: object = None
        self.exists = False
        self._load()

    def _load(self) -> None:
        # lexists: a dangling symlink is refused below, not read as "no manifest".
        if not os.path.lexists(self.path):
            return
        try:
            data = read_json(self.path)
        except (OSError, ValueError) as exc:
            raise ManifestError(
                f"{self.path}: unreadable ingestion manifest ({exc}); delete it to re-index"
            ) from exc
        if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
            raise ManifestError(
                f"{self.path}: manifest version {data.get('version') if isinstance(data, dict) else None!r}"
                f" is not {MANIFEST_VERSION}; delete it to re-index"
            )
        self.exists = True
        self.stored_fingerprint = data.get("fingerprint")
        if self.stored_fingerprint != self.fingerprint:
            self.fingerprint_changed = True
            return
        docs = data.get("documents", {})
        if not isinstance(docs, dict):
            raise ManifestError(f"{self.path}: 'documents' is not a map; delete it to re-index")
        self.documents = {str(k): str(v) for k, v in docs.items()}

    def changed_settings(self) -> list[str]:
        """``name: old -> new`` for each setting that differs from the file's (sorted)."""
        stored = self.stored_fingerprint if isinstance(self.stored_fingerprint, dict) else {}
        return [
            f"{key}: {stored.get(key)!r} -> {self.fingerprint.get(key)!r}"
            for key in sorted(set(stored) | set(self.fingerprint))
            if stored.get(key) != self.fingerprint.get(key)
        ]

    def save(self) -> None:
        """Write the manifest atomically: readers see the old or the new file, never half."""
        private_dir(self.path.parent)
        body = json.dumps(
            {
                "version": MANIFEST_VERSION,
                "fingerprint": self.fingerprint,
                "documents": self.documents,
            },
            sort_keys=True,
            indent=1,
        )
        atomic_write_text(self.path, body)

    def forget(self, doc_ids: Iterable[str]) -> None:
        """Drop documents (before their points are rewritten or deleted)."""
        changed = False
        for doc_id in doc_ids:
            changed |= self.documents.pop(doc_id, None) is not None
        if changed:
            self.save()

    def record(self, hashes: Mapping[str, str]) -> None:
        """Mark documents as fully indexed (after their points are written)."""
        self.documents.update(hashes)
        self.save()
