"""Re-index under new settings beside the live embedded index, then switch the new one in.

When the settings that shape the stored vectors change (model, chunking, ...), the next
ingest re-indexes every document it is given. On an embedded index it writes them into a
new index beside the live one (``data_dir/qdrant.restore-T``, with its own manifest), checks
it (the point count against the chunks written, the manifest's documents against the points),
and switches it in with the restore's journal (`ragdrop.pipeline.restore.switch_in`). Until
the switch the old index keeps answering; a kill at any instant leaves the old index or the
new one complete, and the next open of the data dir (`recover_data_dir`) finishes the switch
or removes the half-built index.

On a Qdrant server (``qdrant_url``) the documents go into a new collection
(``<collection>-restore-T``, with its own manifest), checked the same way and switched in with
a collection alias (`ragdrop.pipeline.collection_switch`) by `StagedRebuild.finish`; the data
dir's files follow in `StagedRebuild.switch`.
"""

from __future__ import annotations

import dataclasses
import shutil
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from qdrant_client import QdrantClient

from ragdrop.core.protocols import WriteListener
from ragdrop.pipeline.collection_switch import (
    recover_collection,
    staged_collection,
    stages_in_collection,
    switch_alias,
)
from ragdrop.pipeline.components import Components, build_vector_store
from ragdrop.pipeline.config import PipelineConfig
from ragdrop.pipeline.manifest import IngestManifest
from ragdrop.pipeline.restore import staged_index, staged_manifest, switch_in
from ragdrop.qdrant_edge import EmbeddedEngine
from ragdrop.vector_stores import CachedQdrantVectorStore, EdgeQdrantClient, embedded_client


class RebuildError(RuntimeError):
    """The index built under the new settings failed a check: the live one was kept."""


class StagedRebuild:
    """A new index being built beside the live one of ``config``: an embedded index in a
    folder of the data dir, or a collection on the live index's Qdrant server.

    Args:
        config: the pipeline's settings (the new ones).
        live: the pipeline's open components; their models are reused, their index is not
            written (a server's client is, for the new collection).
        fingerprint: the settings the new manifest records.
        listeners: write listeners to tell of the new index's writes (metrics).
        in_collection: build a new collection on ``live.client`` and switch an alias to it;
            None (default): on a Qdrant server (``config.qdrant_url``). Local mode implements
            aliases too.
    """

    def __init__(
        self,
        config: PipelineConfig,
        live: Components,
        fingerprint: Mapping[str, Any],
        listeners: Iterable[WriteListener] = (),
        *,
        in_collection: bool | None = None,
    ) -> None:
        self.config = config
        self.token = uuid.uuid4().hex[:12]
        self.in_collection = (
            stages_in_collection(config) if in_collection is None else in_collection
        )
        self.switched = False
        self.path = staged_index(config, self.token)
        if self.in_collection:
            recover_collection(live.client, config)  # what a killed rebuild left
            self.name = staged_collection(config.collection, self.token)
            self.client = live.client
        else:
            self.name = config.collection
            # The engine of the live index: a rebuild changes the settings, not the engine.
            engine: EmbeddedEngine = "local" if isinstance(live.client, QdrantClient) else "edge"
            try:
                self.client = embedded_client(self.path, engine)
            except BaseException:
                shutil.rmtree(self.path, ignore_errors=True)
                raise
        try:
            # No query cache: the switch drops the cache of the old points, and nothing
            # queries the new index before it.
            uncached = config.model_copy(update={"cache": False, "collection": self.name})
            store = build_vector_store(uncached, self.client, live.embed_model)
            if not isinstance(store, CachedQdrantVectorStore):
                raise TypeError(f"a rebuild writes a CachedQdrantVectorStore, got {store!r}")
            for listener in listeners:
                store.add_write_listener(listener)
            self.store = store
            self.manifest = IngestManifest(staged_manifest(config, self.token), fingerprint)
        except BaseException:
            self.discard()
            raise
        # What ingestion writes through: the live models, the new client and store.
        self.target = dataclasses.replace(live, client=self.client, vector_store=store, lock=None)

    def finish(self, chunks: int) -> int:
        """Check the new index (it must hold ``chunks`` points, one document of the manifest
        at least each); a new collection is then switched in (its alias), a new folder closed.
        The point count. Raises `RebuildError` (the new index removed, the live one untouched)
        when a check fails."""
        try:
            self.manifest.save()  # also when no document had text: the new settings count
            name = self.name
            points, documents = 0, set()
            if self.client.collection_exists(collection_name=name):
                if isinstance(self.client, EdgeQdrantClient):
                    self.client.flush(name)  # on disk before the journal decides the switch
                points = self.client.count(collection_name=name, exact=True).count
                documents = {n.ref_doc_id for n in self.store.iter_nodes() if n.ref_doc_id}
            missing = sorted(set(self.manifest.documents) - documents)
            if points != chunks or missing:
                where = repr(name) if self.in_collection else repr(str(self.path))
                raise RebuildError(
                    f"the index rebuilt under the new settings at {where} holds "
                    f"{points} points for {chunks} chunks written"
                    + (f", and no points for documents {missing[:3]}" if missing else "")
                    + "; the old index was kept: run the ingest again"
                )
            if not self.in_collection:
                self.client.close()
            else:
                # From here the live name answers from the new collection (the data dir's
                # files follow in `switch`, or at the next start if killed before); with no
                # points there is no new collection and the live name is dropped (its manifest
                # first: a kill then leaves nothing indexed, never a manifest without points).
                if not points:
                    self.config.manifest_path.unlink(missing_ok=True)
                old = switch_alias(self.client, self.config.collection, name if points else None)
                self.switched = True
                if old is not None:
                    self.client.delete_collection(collection_name=old)
        except BaseException:
            self.discard()
            raise
        return points

    def switch(self) -> None:
        """Switch the finished index in (the caller closed every client of the live one)."""
        switch_in(self.config, self.token, has_manifest=True)

    def discard(self) -> None:
        """Remove the new index and its manifest; the live index is untouched (nothing is
        removed once `finish` switched the alias to the new collection)."""
        try:
            if self.switched:
                return
            if not self.in_collection:
                self.client.close()
            elif self.client.collection_exists(collection_name=self.name):
                self.client.delete_collection(collection_name=self.name)
        finally:
            if not self.switched:
                shutil.rmtree(self.path, ignore_errors=True)
                staged_manifest(self.config, self.token).unlink(missing_ok=True)
