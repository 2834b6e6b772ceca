"""``ragdrop health --data-dir``: what a data dir holds, read without changing anything.

Opening an embedded index is a write: the pipeline takes the data dir's writer lock (a
running ``ragdrop serve`` holds it), finishes a restore's switch and rebuilds a damaged BM25
state, and Qdrant Edge rewrites its shard config and trackers when it loads a shard. So this
probe opens nothing for writing and takes no lock: it reads the files ragdrop owns (the
manifest, the restore/rebuild journal, the collection's description, the BM25 state with its
checksums) and loads the models, and reports a damaged file as not ready with the reason
instead of repairing it. A live index is read as it stands while its writer runs.

`RagPipeline.health` (``GET /health/ready``, ``ragdrop health --open``) checks the opened
index of a running pipeline instead.
"""

from __future__ import annotations

import os
from typing import Any

from qdrant_client import QdrantClient

from ragdrop.core.files import check_private_dir
from ragdrop.core.locks import lock_holder
from ragdrop.observability.health import (
    Check,
    HealthMonitor,
    HealthReport,
    check_collection,
    check_directory_writable,
    check_model_loads,
    check_qdrant_reachable,
    vector_sizes,
)
from ragdrop.pipeline.collection_switch import pending_switch
from ragdrop.pipeline.components import build_embed_model, build_postprocessors
from ragdrop.pipeline.config import PipelineConfig
from ragdrop.pipeline.health import (
    InDataDir,
    bm25_state_dir,
    check_data_dir,
    check_manifest,
    check_manifest_matches,
    count_points,
    read_bm25_state,
)
from ragdrop.pipeline.manifest import IngestManifest
from ragdrop.pipeline.restore import JOURNAL, RETIRED, STAGING
from ragdrop.qdrant_edge.storage import LOCAL_MODE_MARKER, read_collection_config


def inspect_data_dir(config: PipelineConfig, fingerprint: dict[str, Any]) -> HealthReport:
    """Readiness of ``config``'s index from its files (see the module doc); changes nothing.

    Args:
        config: the settings (data dir, collection, models, Qdrant URL).
        fingerprint: the settings the manifest must have been written with
            (`RagPipeline.fingerprint`).
    """
    client = None
    if config.qdrant_url:
        client = QdrantClient(url=config.qdrant_url, api_key=config.qdrant_api_key)
    try:
        return HealthMonitor(readiness=inspection_checks(config, fingerprint, client)).ready()
    finally:
        if client is not None:
            client.close()


def inspection_checks(
    config: PipelineConfig, fingerprint: dict[str, Any], client: QdrantClient | None
) -> dict[str, Check]:
    """Name -> check of `inspect_data_dir` (``client``: the Qdrant server's, when one is set)."""
    state: dict[str, Any] = {}
    data_dir = config.data_dir

    def data_dir_check() -> str:
        detail = check_data_dir(data_dir)
        holder = lock_holder(data_dir)
        if holder is not None:
            detail += f"; in use by process {holder} (read as it stands, not opened)"
        return detail

    def switch() -> str:
        reason = pending_switch(client, config) if client is not None else None
        if reason is not None:
            raise RuntimeError(f"{reason}: run the restore (or the ingest) again to finish it")
        if os.path.lexists(data_dir / JOURNAL):
            raise RuntimeError(
                f"a restore or settings rebuild is switching indexes ({data_dir / JOURNAL}): "
                "the process doing it, or the next ragdrop command that opens the data dir "
                "(e.g. `ragdrop ask`), finishes it"
            )
        leftovers = [p.name for p in data_dir.iterdir() if p.name.startswith((STAGING, RETIRED))]
        if leftovers:
            return (
                f"no switch in progress; {len(leftovers)} folders of a killed restore or "
                f"rebuild ({', '.join(sorted(leftovers)[:3])}) are removed at the next open"
            )
        return "no switch in progress"

    def manifest() -> str:
        loaded = IngestManifest(config.manifest_path, fingerprint)
        detail = check_manifest(loaded)
        state["documents"] = set(loaded.documents)
        return detail

    def qdrant() -> str:
        if client is not None:
            return check_qdrant_reachable(client)
        path = config.qdrant_path
        if not os.path.lexists(path):
            state["layout"] = None
            return f"{path} absent: created on first ingest"
        check_private_dir(path, "Qdrant directory")
        local = (path / LOCAL_MODE_MARKER).exists()
        state["layout"] = read_collection_config(path, config.collection)
        engine = "qdrant-client local mode" if local else "Qdrant Edge"
        return f"{engine} index at {path}: its files read, not opened (opening writes to it)"

    def models() -> str:
        embed_model = build_embed_model(config.model_copy(update={"cache": False}))
        loaded = [check_model_loads(embed_model)]
        postprocessors, _ = build_postprocessors(config.model_copy(update={"cache": False}))
        loaded += [check_model_loads(post) for post in postprocessors]
        state["dimension"] = getattr(embed_model, "dimension", None)
        return "; ".join(loaded)

    def collection() -> str:
        documents = state.get("documents")
        name = config.collection
        if client is not None:
            detail = check_collection(client, name, lambda: state.get("dimension"))
            if documents is not None:
                points = count_points(client, name)
                check_manifest_matches(len(documents), points, name, config.manifest_path)
            return detail
        if "layout" not in state:
            raise RuntimeError("not checked: the index is unreadable (see qdrant)")
        layout = state["layout"]
        if layout is None:
            if documents:
                raise LookupError(
                    f"the manifest lists {len(documents)} documents but the index holds no "
                    f"collection {name!r}: restore a backup (`ragdrop restore`), or delete "
                    f"{config.manifest_path} and ingest again"
                )
            return f"collection {name!r} absent: created on first ingest"
        sizes = vector_sizes(layout.vectors)
        expected = state.get("dimension")
        if expected is not None and sizes and expected not in sizes.values():
            raise ValueError(
                f"collection {name!r} stores vectors of size {sorted(set(sizes.values()))} "
                f"but the embedding model makes {expected}: use the model the collection was "
                "built with, or a new collection name"
            )
        return f"collection {name!r}: vector sizes {sizes}"

    def bm25() -> str:
        path = config.bm25_dir
        before = read_bm25_state(path)
        if before.problem == "absent":
            return f"{path} absent: built from the index's points at the next open"
        if before.problem is not None or before.refs is None:
            raise ValueError(
                f"the persisted BM25 state at {path} is {before.problem}: the next ragdrop "
                "command that opens the data dir (`ragdrop ask`, `ingest`, `serve`) rebuilds "
                "it from the index's points"
            )
        detail = f"{len(before.ids or ())} chunks of {len(before.refs)} documents, read and checked"
        missing = (state.get("documents") or set()) - before.refs
        if missing:
            detail += (
                f"; stale ({len(missing)} documents of the manifest not in it, e.g. "
                f"{sorted(missing)[:3]}): rebuilt from the index's points at the next open"
            )
        return detail

    def inside(check: Check) -> Check:
        return InDataDir(check, data_dir)

    checks: dict[str, Check] = {
        "data_dir": data_dir_check,
        "switch": inside(switch),
        "manifest": inside(manifest),
    }
    if config.cache:
        checks["cache_dir"] = inside(
            lambda: check_directory_writable(
                config.cache_dir, "cache dir", missing="created at first use"
            )
        )
    checks["qdrant"] = inside(qdrant)
    checks["models"] = inside(models)
    checks["collection"] = inside(collection)
    if bm25_state_dir(config) is not None:
        checks["bm25"] = inside(bm25)
    return checks
