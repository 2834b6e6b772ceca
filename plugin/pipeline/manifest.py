"""Which documents are fully indexed, by content hash: the ingestion's commit log.

A document enters the manifest only after all of its points are written, so an interrupted
ingestion never reads as complete: the next run sees the missing documents and re-does them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from llama_index.core import Document

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
        path: the manifest file; written atomically (temp file + rename).
        fingerprint: everything that changes the stored vectors (model, chunking, ...). A
            manifest written under another fingerprint is treated as empty.
    """

    def __init__(self, path: Path, fingerprint: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self.fingerprint = dict(fingerprint)
        self.documents: dict[str, str] = {}
        self.fingerprint_changed = False
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ManifestError(
                f"{self.path}: unreadable ingestion manifest ({exc}); delete it to re-index"
            ) from exc
        if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
            raise ManifestError(
                f"{self.path}: manifest version {data.get('version') if isinstance(data, dict) else None!r}"
                f" is not {MANIFEST_VERSION}; delete it to re-index"
            )
        if data.get("fingerprint") != self.fingerprint:
            self.fingerprint_changed = True
            return
        docs = data.get("documents", {})
        if not isinstance(docs, dict):
            raise ManifestError(f"{self.path}: 'documents' is not a map; delete it to re-index")
        self.documents = {str(k): str(v) for k, v in docs.items()}

    def save(self) -> None:
        """Write the manifest atomically: readers see the old or the new file, never half."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        body = json.dumps(
            {
                "version": MANIFEST_VERSION,
                "fingerprint": self.fingerprint,
                "documents": self.documents,
            },
            sort_keys=True,
            indent=1,
        )
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".manifest-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

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
