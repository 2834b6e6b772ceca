"""The readiness checks of a pipeline, built from observability's generic checks.

`RagPipeline.health` runs them; the server's ``/health/ready`` and ``ragdrop health --open``
call `RagPipeline.health`, so they never disagree (plain ``ragdrop health`` reads the files
without opening the index: `ragdrop.pipeline.inspection`). They check what a question reads: the data
dir, the manifest, the cache dir, Qdrant and the collection, the models and the BM25 state.

No check creates or writes a file: a missing data dir is reported (not ready), never created,
and every check that reads inside it is then skipped. Opening the index (the first check that
needs Qdrant) is the pipeline's own start-up; it may rebuild a BM25 state that does not match
the store, and the ``bm25`` check says so. The ``collection`` check also reports the index
(`index_state`): a failed background build (status red) fails it with the reason. The
``switch`` check fails while a restore or rebuild on a Qdrant server is between two
collections, the ``id_map`` check while a point holds another node than its id.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llama_index.core.retrievers import BaseRetriever
from qdrant_client.client_base import QdrantBase
from qdrant_client.http import models

from ragdrop.cache.redis_cache import RedisCache
from ragdrop.observability.health import (
    Check,
    CheckSkipped,
    OnceCheck,
    check_collection,
    check_directory_writable,
    check_model_loads,
    check_qdrant_reachable,
)
from ragdrop.pipeline.collection_switch import pending_switch
from ragdrop.pipeline.components import Components
from ragdrop.pipeline.config import PipelineConfig
from ragdrop.pipeline.manifest import IngestManifest
from ragdrop.retrievers import BM25Retriever, HybridRetriever
from ragdrop.retrievers.bm25.retriever import RETRIEVER_FILE
from ragdrop.retrievers.store_reader import index_point_ids, store_point_ids
from ragdrop.vector_stores.points import (
    PointIdentityError,
    check_point_identity,
    node_id_from_payload,
)


@dataclass(frozen=True)
class PersistedBM25:
    """What ``data_dir/bm25/<collection>`` held before the index opened.

    Args:
        ids: the point ids it indexes (None when absent or unreadable).
        problem: why it cannot be used as is ("absent", "unreadable (...)"), or None.
        refs: the documents its chunks come from (None when absent or unreadable).
    """

    ids: frozenset[str] | None
    problem: str | None
    refs: frozenset[str] | None = None


def read_bm25_state(path: Path) -> PersistedBM25:
    """Load the persisted BM25 state at ``path`` the way the pipeline will (reads only)."""
    if not os.path.lexists(path / RETRIEVER_FILE):
        return PersistedBM25(None, "absent")
    try:
        bm25 = BM25Retriever.from_persist_dir(path)
    # What `load_or_build_bm25` treats as "rebuild from the store".
    except (ValueError, KeyError, TypeError, IndexError, EOFError, OSError) as exc:
        return PersistedBM25(None, f"unreadable ({exc})")
    return PersistedBM25(frozenset(index_point_ids(bm25.index.ids)), None, bm25.ref_doc_ids)


def live_bm25(retriever: BaseRetriever) -> BM25Retriever | None:
    """The BM25 index queries read (None when the retriever has no BM25 side)."""
    bm25 = retriever.bm25 if isinstance(retriever, HybridRetriever) else retriever
    return bm25 if isinstance(bm25, BM25Retriever) else None


def bm25_state_dir(config: PipelineConfig) -> Path | None:
    """Where the pipeline persists BM25 (as `build_retriever` does), or None when unused."""
    if config.retriever == "vector" or (config.retriever == "hybrid" and config.fusion == "qdrant"):
        return None
    return config.bm25_dir


def count_points(client: QdrantBase, collection: str) -> int:
    """Points in ``collection`` (0 when it does not exist yet)."""
    if not client.collection_exists(collection):
        return 0
    return int(client.count(collection_name=collection, exact=True).count)


def index_state(client: QdrantBase, collection: str) -> str:
    """The collection's index as ``get_collection`` reports it: ``""`` when green (or absent),
    a note while a build is due (grey) or running (yellow); raises when red (a failed build).

    Qdrant Edge reports its background optimizer this way (`ragdrop.qdrant_edge.optimizer`), a
    server its own. Red is degraded: queries still answer, scanning the unindexed points
    exactly, but each one pays that scan until a build succeeds.
    """
    if not client.collection_exists(collection):
        return ""
    info = client.get_collection(collection)
    status = models.CollectionStatus(info.status)
    if status == models.CollectionStatus.RED:
        error = getattr(info.optimizer_status, "error", info.optimizer_status)
        raise RuntimeError(
            f"collection {collection!r} is degraded: its index build failed ({error}); "
            f"queries still answer, scanning the {_unindexed(info)} unindexed points: fix the "
            "cause (disk space, permissions of the data dir), then the next write retries the "
            "build (or call optimize() on the Qdrant Edge client)"
        )
    if status == models.CollectionStatus.YELLOW:
        return f"; index building ({_unindexed(info)} points wait, searched exactly)"
    if status == models.CollectionStatus.GREY:
        return f"; index build due ({_unindexed(info)} points wait, searched exactly)"
    return ""


def _unindexed(info: models.CollectionInfo) -> int:
    return max((info.points_count or 0) - (info.indexed_vectors_count or 0), 0)


def check_id_map(client: QdrantBase, collection: str, batch_size: int = 512) -> str:
    """Every point holds the node its id was made from; raises naming the damaged ones.

    A damaged or reordered id map (an engine's id tracker) pairs ids with other points'
    payloads: a query would answer with another document than the one ranked, so reads refuse
    such points (`PointIdentityError`) and this check reports them. It is not repaired in
    place: the point under the wrong id is all that is left of the node whose id it has, so
    only the documents can bring it back (docs/OPERATIONS.md).
    """
    if not client.collection_exists(collection):
        return "no collection yet"
    checked, bad = 0, []
    offset: models.ExtendedPointId | None = None
    while True:
        records, offset = client.scroll(
            collection_name=collection, limit=batch_size, offset=offset, with_payload=True
        )
        for record in records:
            try:
                check_point_identity(record.id, node_id_from_payload(record.id, record.payload))
            except PointIdentityError as exc:
                bad.append(str(exc))
        checked += len(records)
        if offset is None:
            break
    if bad:
        raise PointIdentityError(
            f"{len(bad)} of {checked} points hold another node than their id ({bad[0]}); "
            "questions that rank them are refused (see docs/OPERATIONS.md)"
        )
    return f"{checked} points, each holding the node of its id"


def check_switch(client: QdrantBase, config: PipelineConfig) -> str:
    """No restore or settings rebuild is between two collections (a Qdrant deployment)."""
    reason = pending_switch(client, config)
    if reason is not None:
        raise RuntimeError(
            f"{reason}: a restore or settings rebuild was interrupted; run the restore (or the "
            "ingest) again, or open the collection with a ragdrop that finishes it at start"
        )
    return "no switch pending"


def check_data_dir(path: Path) -> str:
    """The data dir exists, is private and writable; never created here."""
    try:
        return check_directory_writable(path, "data dir")
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"{exc}: ingest documents first (`ragdrop ingest PATH --data-dir {path}`) or pass "
            "the --data-dir that holds the index"
        ) from None


def check_manifest(manifest: IngestManifest) -> str:
    """The manifest is readable and was written with the current settings."""
    if manifest.fingerprint_changed:
        raise ValueError(
            f"{manifest.path} was written with other settings "
            f"({'; '.join(manifest.changed_settings())}); use the settings the index was "
            "built with, or re-index with `ragdrop ingest PATH` (replaces every document)"
        )
    if not manifest.exists:
        return f"{manifest.path} absent: no documents indexed yet"
    return f"{manifest.path}: {len(manifest.documents)} documents indexed"


def check_manifest_matches(documents: int, points: int, collection: str, path: Path) -> None:
    """Raise when the manifest and the collection disagree about whether anything is indexed."""
    if documents and not points:
        raise LookupError(
            f"the manifest lists {documents} documents but collection {collection!r} holds no "
            f"points: restore a backup (`ragdrop restore`), or delete {path} and ingest again"
        )
    if points and not documents:
        raise LookupError(
            f"collection {collection!r} holds {points} points but the manifest ({path}) lists "
            "no documents, so questions are refused and the next ingest re-embeds everything: "
            "restore a backup (`ragdrop restore`) or ingest the documents again"
        )


def describe_bm25(
    live: BM25Retriever, points: int, before: PersistedBM25 | None, stored: set[str] | None
) -> str:
    """The ``bm25`` check's detail; raises when the index queries read misses points."""
    if len(live.index) != points:
        raise RuntimeError(
            f"the BM25 index holds {len(live.index)} chunks but the collection holds {points} "
            "points (written by another process): restart ragdrop to rebuild BM25 from the "
            "store's points"
        )
    detail = f"{points} chunks, the same as the collection"
    if before is None:
        return detail
    if before.problem is not None:
        return f"{detail}; persisted state {before.problem}: rebuilt from the store's points"
    if stored is not None and before.ids != stored:
        return (
            f"{detail}; persisted state was stale ({len(before.ids or ())} chunks): rebuilt "
            "from the store's points"
        )
    return f"{detail}; persisted state loaded"


class InDataDir:
    """A check of something inside the data dir: skipped (failed) while the data dir is
    missing or unsafe, so a probe never opens, let alone creates, what it checks.

    Args:
        check: the check to run once the data dir is usable.
        data_dir: the data dir.
    """

    def __init__(self, check: Check, data_dir: Path) -> None:
        self.check = check
        self.data_dir = data_dir

    def __call__(self) -> str:
        try:
            check_directory_writable(self.data_dir, "data dir")
        except OSError:  # an UnsafePathError is a PermissionError
            raise CheckSkipped("not checked: the data dir is unusable (see data_dir)") from None
        return self.check()


def check_shared_cache(store: object) -> str:
    """The Redis cache answers; else a ConnectionError with the reason (questions are still
    answered, uncached, meanwhile). Ready again by itself once Redis answers."""
    cache = getattr(store, "query_cache", None)
    backend = getattr(cache, "cache", None)
    if not isinstance(backend, RedisCache):
        return "no shared cache"
    if not backend.ping():
        raise ConnectionError(
            f"Redis cache at {backend.url} does not answer ({backend.degraded_reason}); "
            "questions are answered uncached until it does"
        )
    return f"Redis cache at {backend.url} answers"


def readiness_checks(
    config: PipelineConfig,
    components: Callable[[], Components],
    retry_seconds: float = 60.0,
    *,
    fingerprint: Callable[[], Mapping[str, object]],
    built: Callable[[], bool] = lambda: True,
) -> dict[str, Check]:
    """Name -> check: data dir, manifest, cache dir, Qdrant, models, collection, switch,
    id map, BM25.

    Nothing runs here. The first check that needs Qdrant builds the components; the models
    are loaded by the first readiness probe and never again (a failed load is retried at
    most every ``retry_seconds``). The collection check compares its vector size with the
    embedding model's once the models are loaded, and its points with the manifest.

    Args:
        config: the pipeline's settings (collection, data and cache directories).
        components: returns the pipeline's built components (building them on first call).
        retry_seconds: minimum seconds between two model loads after a failure.
        fingerprint: returns the settings the manifest must have been written with.
        built: whether the components are built (the BM25 state is read before they are).
    """
    state: dict[str, Any] = {}
    bm25_dir = bm25_state_dir(config)

    def opened() -> Components:
        if bm25_dir is not None and not built():
            state["bm25_before"] = read_bm25_state(bm25_dir)
        return components()

    def needs_data_dir(check: Check) -> Check:
        return InDataDir(check, config.data_dir)

    def load_models() -> str:
        parts = opened()
        loaded = [check_model_loads(parts.embed_model)]
        inner = getattr(parts.embed_model, "embed_model", parts.embed_model)  # under a cache
        backend = getattr(inner, "backend", None)
        if backend is not None:
            loaded[0] += f" (backend {backend})"
        for post in parts.postprocessors:
            if callable(getattr(post, "warm_up", None)):
                loaded.append(check_model_loads(post))
        state["dimension"] = getattr(parts.embed_model, "dimension", None)
        return "; ".join(loaded)

    def manifest() -> str:
        state["documents"] = None
        loaded = IngestManifest(config.manifest_path, fingerprint())
        detail = check_manifest(loaded)
        state["documents"] = len(loaded.documents)
        return detail

    def collection() -> str:
        client = opened().client
        detail = check_collection(client, config.collection, lambda: state.get("dimension"))
        detail += index_state(client, config.collection)
        documents = state.get("documents")
        if documents is not None:
            points = count_points(client, config.collection)
            check_manifest_matches(documents, points, config.collection, config.manifest_path)
        return detail

    def id_map() -> str:
        # A scan of every payload, so once per opened index, not per probe: ragdrop writes
        # each point under its node's id, so damage comes from storage, found at open.
        parts = opened()
        checked = state.get("id_map_of")
        if checked is None or checked() is not parts:
            try:
                state["id_map"] = check_id_map(parts.client, config.collection)
            except PointIdentityError as exc:
                state["id_map"] = exc
            state["id_map_of"] = weakref.ref(parts)
        if isinstance(state["id_map"], Exception):
            raise state["id_map"]
        return str(state["id_map"])

    def bm25() -> str:
        parts = opened()
        live = live_bm25(parts.retriever)
        if live is None:
            return "not used by this retriever"
        before = state.pop("bm25_before", None)
        stored = None
        if before is not None and before.ids is not None:
            stored = store_point_ids(parts.vector_store)
        return describe_bm25(live, count_points(parts.client, config.collection), before, stored)

    checks: dict[str, Check] = {
        "data_dir": lambda: check_data_dir(config.data_dir),
        "manifest": needs_data_dir(manifest),
    }
    if config.cache:
        checks["cache_dir"] = needs_data_dir(
            lambda: check_directory_writable(
                config.cache_dir, "cache dir", missing="created at first use"
            )
        )
    checks["qdrant"] = needs_data_dir(lambda: check_qdrant_reachable(opened().client))
    if config.cache and config.cache_url is not None:
        checks["shared_cache"] = needs_data_dir(lambda: check_shared_cache(opened().vector_store))
    checks["models"] = needs_data_dir(OnceCheck(load_models, retry_seconds=retry_seconds))
    checks["collection"] = needs_data_dir(collection)
    checks["switch"] = needs_data_dir(lambda: check_switch(opened().client, config))
    checks["id_map"] = needs_data_dir(id_map)
    if bm25_dir is not None:
        checks["bm25"] = needs_data_dir(bm25)
    return checks
