"""CachedQdrantVectorStore behaviour, run on Qdrant :memory: and on an on-disk path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import DIM
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import (
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from llama_index.vector_stores.qdrant import QdrantVectorStore

from ragdrop.vector_stores import CachedQdrantVectorStore, CollectionSettings, WriteEvent

pytestmark = pytest.mark.integration


def _q(vector: list[float], k: int = 5, **kw: Any) -> VectorStoreQuery:
    return VectorStoreQuery(query_embedding=vector, similarity_top_k=k, **kw)


def _brute_force(nodes: list[TextNode], vector: list[float], k: int) -> list[str]:
    matrix = np.array([n.embedding for n in nodes])
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    scores = matrix @ (np.array(vector) / np.linalg.norm(vector))
    return [nodes[i].node_id for i in np.argsort(-scores)[:k]]


def _count(client: Any, name: str) -> int:
    return int(client.count(collection_name=name, exact=True).count)


def test_add_query_matches_brute_force(qdrant_client: Any, nodes: list[TextNode]) -> None:
    store = CachedQdrantVectorStore("c", client=qdrant_client)
    assert store.add(nodes) == [n.node_id for n in nodes]
    for probe in nodes[:5]:
        result = store.query(_q(probe.embedding, 5))
        assert result.ids == _brute_force(nodes, probe.embedding, 5)
        assert result.nodes[0].get_content() == probe.get_content()
        assert result.nodes[0].metadata == probe.metadata
        assert result.similarities[0] == pytest.approx(1.0, abs=1e-5)


def test_caller_nodes_not_mutated_and_results_fresh(
    qdrant_client: Any, nodes: list[TextNode], tmp_path: Path
) -> None:
    before = [n.model_dump() for n in nodes]
    store = CachedQdrantVectorStore("c", client=qdrant_client, cache_dir=tmp_path / "cache")
    store.add(nodes)
    first = store.query(_q(nodes[0].embedding))
    first.nodes[0].metadata["hacked"] = True
    second = store.query(_q(nodes[0].embedding))
    assert "hacked" not in second.nodes[0].metadata
    assert [n.model_dump() for n in nodes] == before


def test_delete_by_ref_doc_and_node_ids(qdrant_client: Any, nodes: list[TextNode]) -> None:
    store = CachedQdrantVectorStore("c", client=qdrant_client)
    store.add(nodes)
    store.delete("doc-1")
    left = {n.node_id for n in store.get_nodes()}
    assert left == {n.node_id for n in nodes if n.ref_doc_id != "doc-1"}
    store.delete_nodes(["node-0", "node-3"])
    left = {n.node_id for n in store.get_nodes()}
    assert "node-0" not in left and "node-3" not in left and len(left) == 18
    store.delete_nodes(
        filters=MetadataFilters(filters=[MetadataFilter(key="colour", value="green")])
    )
    assert all(n.metadata["colour"] != "green" for n in store.get_nodes())


def test_upsert_is_idempotent_by_node_id(qdrant_client: Any, nodes: list[TextNode]) -> None:
    store = CachedQdrantVectorStore("c", client=qdrant_client, batch_size=7)
    store.add(nodes)
    changed = nodes[4].model_copy(update={"text": "new text"})
    store.add([changed])
    assert _count(qdrant_client, "c") == len(nodes)
    assert store.get_nodes(node_ids=["node-4"])[0].get_content() == "new text"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([float("nan")] * DIM, "NaN"),
        ([0.0] * DIM, "zero"),
        ([1.0] * (DIM - 1), "dimensions"),
        (None, "no embedding"),
    ],
)
def test_bad_vector_writes_nothing(
    qdrant_client: Any, nodes: list[TextNode], bad: Any, message: str
) -> None:
    store = CachedQdrantVectorStore("c", client=qdrant_client)
    batch = [*nodes[:5], nodes[5].model_copy(update={"embedding": bad})]
    with pytest.raises(ValueError, match=message):
        store.add(batch)
    assert not qdrant_client.collection_exists(collection_name="c")
    store.add(nodes[:5])
    with pytest.raises(ValueError, match=message):
        store.add(batch)
    assert _count(qdrant_client, "c") == 5


def test_existing_collection_mismatch_is_a_clear_error(
    qdrant_client: Any, nodes: list[TextNode]
) -> None:
    CachedQdrantVectorStore("c", client=qdrant_client).add(nodes)
    dot = CachedQdrantVectorStore(
        "c", client=qdrant_client, settings=CollectionSettings(distance="Dot")
    )
    with pytest.raises(ValueError, match="distance Cosine"):
        dot.add(nodes[:1])
    hybrid = CachedQdrantVectorStore("c", client=qdrant_client, enable_hybrid=True)
    with pytest.raises(ValueError, match="no sparse vector"):
        hybrid.add(nodes[:1])
    small = CachedQdrantVectorStore("c", client=qdrant_client)
    with pytest.raises(ValueError, match="expects 16"):
        small.add([TextNode(text="x", embedding=[1.0, 2.0])])
    assert _count(qdrant_client, "c") == len(nodes)


def test_llamaindex_reads_ours_and_we_read_theirs(
    qdrant_client: Any, nodes: list[TextNode]
) -> None:
    ours = CachedQdrantVectorStore("ours", client=qdrant_client)
    ours.add(nodes)
    theirs = QdrantVectorStore("ours", client=qdrant_client)
    result = theirs.query(_q(nodes[2].embedding, 3))
    assert [n.node_id for n in result.nodes] == _brute_force(nodes, nodes[2].embedding, 3)
    assert result.nodes[0].metadata == nodes[2].metadata
    theirs.delete("doc-0")  # their delete finds our payload's doc_id
    assert all(n.ref_doc_id != "doc-0" for n in ours.get_nodes())

    uuid_nodes = [
        n.model_copy(update={"id_": f"00000000-0000-4000-8000-{i:012d}"})
        for i, n in enumerate(nodes)
    ]
    QdrantVectorStore("theirs", client=qdrant_client).add(uuid_nodes)
    reader = CachedQdrantVectorStore("theirs", client=qdrant_client)
    result = reader.query(_q(uuid_nodes[7].embedding, 4))
    assert result.ids == _brute_force(uuid_nodes, uuid_nodes[7].embedding, 4)
    assert result.nodes[0].text == uuid_nodes[7].text
    reader.delete_nodes([uuid_nodes[7].node_id])
    assert _count(qdrant_client, "theirs") == len(nodes) - 1


def _fixed_sparse(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
    idx, val = [], []
    for t in texts:
        words = sorted({hash_word(w) for w in t.lower().split()})
        idx.append(words)
        val.append([1.0] * len(words))
    return idx, val


def hash_word(word: str) -> int:
    return sum(ord(c) * 31**i for i, c in enumerate(word)) % 100_000


def _tie_free_sparse(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
    """Like `_fixed_sparse`, but each document weighs its words uniquely: no score ties."""
    idx, val = _fixed_sparse(texts)
    weights = [1.0 + (sum(map(ord, t)) * 7919 % 1000) / 1e4 for t in texts]
    return idx, [[w] * len(v) for w, v in zip(weights, val, strict=True)]


def test_hybrid_layout_compatible_with_llamaindex(
    qdrant_client: Any, nodes: list[TextNode]
) -> None:
    ours = CachedQdrantVectorStore(
        "h",
        client=qdrant_client,
        enable_hybrid=True,
        sparse_doc_fn=_fixed_sparse,
        sparse_query_fn=_fixed_sparse,
    )
    ours.add(nodes)
    info = qdrant_client.get_collection(collection_name="h")
    assert set(info.config.params.vectors) == {"text-dense"}
    assert set(info.config.params.sparse_vectors) == {"text-sparse-new"}
    theirs = QdrantVectorStore(
        "h",
        client=qdrant_client,
        enable_hybrid=True,
        sparse_doc_fn=_fixed_sparse,
        sparse_query_fn=_fixed_sparse,
    )
    dense = theirs.query(_q(nodes[1].embedding, 3))
    assert [n.node_id for n in dense.nodes] == _brute_force(nodes, nodes[1].embedding, 3)
    sparse_q = VectorStoreQuery(
        query_str="topic3", similarity_top_k=10, mode=VectorStoreQueryMode.SPARSE
    )
    assert {n.node_id for n in theirs.query(sparse_q).nodes} == {
        n.node_id for n in nodes if n.metadata["i"] % 5 == 3
    }
    assert set(ours.query(sparse_q).ids) == {n.node_id for n in nodes if n.metadata["i"] % 5 == 3}


def test_hybrid_rrf_equals_hand_computed(qdrant_client: Any, nodes: list[TextNode]) -> None:
    store = CachedQdrantVectorStore(
        "h",
        client=qdrant_client,
        enable_hybrid=True,
        rrf_k=60,
        hybrid_fusion="rrf",
        sparse_doc_fn=_tie_free_sparse,
        sparse_query_fn=_fixed_sparse,
    )
    store.add(nodes)
    vector, text, k = nodes[0].embedding, "red topic2", 8
    dense = store.query(_q(vector, k)).ids
    sparse = store.query(
        VectorStoreQuery(query_str=text, similarity_top_k=k, mode=VectorStoreQueryMode.SPARSE)
    ).ids
    fused: dict[str, float] = {}
    for ranking in (dense, sparse):
        for rank, node_id in enumerate(ranking):
            fused[node_id] = fused.get(node_id, 0.0) + 1.0 / (60 + rank)  # Qdrant: rank from 0
    hybrid = store.query(
        VectorStoreQuery(
            query_embedding=vector,
            query_str=text,
            similarity_top_k=k,
            mode=VectorStoreQueryMode.HYBRID,
        )
    )
    assert set(hybrid.ids) <= set(fused)
    for node_id, score in zip(hybrid.ids, hybrid.similarities, strict=True):
        assert score == pytest.approx(fused[node_id], rel=1e-6)
    assert hybrid.similarities == sorted(hybrid.similarities, reverse=True)


def test_hybrid_dbsf_equals_hand_computed(qdrant_client: Any, nodes: list[TextNode]) -> None:
    # The default: Qdrant's distribution-based score fusion, (s - (mean - 3 sd)) / 6 sd per
    # prefetch (sample sd), 0 where a point is missing, summed.
    store = CachedQdrantVectorStore(
        "d",
        client=qdrant_client,
        enable_hybrid=True,
        sparse_doc_fn=_tie_free_sparse,
        sparse_query_fn=_fixed_sparse,
    )
    assert store.hybrid_fusion == "dbsf"
    store.add(nodes)
    vector, text, k = nodes[0].embedding, "red topic2", 8
    dense = store.query(_q(vector, k))
    sparse = store.query(
        VectorStoreQuery(query_str=text, similarity_top_k=k, mode=VectorStoreQueryMode.SPARSE)
    )
    fused: dict[str, float] = {}
    for result in (dense, sparse):
        scores = list(result.similarities or [])
        mean = sum(scores) / len(scores)
        sd = (sum((s - mean) ** 2 for s in scores) / (len(scores) - 1)) ** 0.5
        for node_id, s in zip(result.ids or [], scores, strict=True):
            fused[node_id] = fused.get(node_id, 0.0) + (s - (mean - 3 * sd)) / (6 * sd)
    hybrid = store.query(
        VectorStoreQuery(
            query_embedding=vector,
            query_str=text,
            similarity_top_k=k,
            mode=VectorStoreQueryMode.HYBRID,
        )
    )
    assert hybrid.ids
    for node_id, score in zip(hybrid.ids, hybrid.similarities or [], strict=True):
        assert score == pytest.approx(fused[node_id], rel=1e-4)


def test_hybrid_needs_query_text(qdrant_client: Any, nodes: list[TextNode]) -> None:
    store = CachedQdrantVectorStore("h", client=qdrant_client, enable_hybrid=True)
    store.add(nodes)
    with pytest.raises(ValueError, match="query_str"):
        store.query(_q(nodes[0].embedding, mode=VectorStoreQueryMode.HYBRID))
    plain = CachedQdrantVectorStore("p", client=qdrant_client)
    plain.add(nodes)
    with pytest.raises(ValueError, match="sparse vectors"):
        plain.query(
            VectorStoreQuery(
                query_embedding=nodes[0].embedding, query_str="x", mode=VectorStoreQueryMode.HYBRID
            )
        )
    with pytest.raises(ValueError, match="not supported"):
        plain.query(_q(nodes[0].embedding, mode=VectorStoreQueryMode.SVM))


def test_search_params_and_query_kwargs(qdrant_client: Any, nodes: list[TextNode]) -> None:
    store = CachedQdrantVectorStore(
        "c",
        client=qdrant_client,
        settings=CollectionSettings(hnsw_ef=64, quantization="scalar", rescore=True),
    )
    store.add(nodes)
    expected = _brute_force(nodes, nodes[3].embedding, 5)
    assert store.query(_q(nodes[3].embedding)).ids == expected
    assert store.query(_q(nodes[3].embedding), exact=True, hnsw_ef=128).ids == expected
    assert store.query(_q(nodes[3].embedding), search_params={"exact": True}).ids == expected


def test_write_listener_sees_every_write(qdrant_client: Any, nodes: list[TextNode]) -> None:
    store = CachedQdrantVectorStore("c", client=qdrant_client)
    events: list[WriteEvent] = []
    store.add_write_listener(events.append)
    store.add(nodes[:6])
    store.delete("doc-1")
    store.delete_nodes(["node-0"])
    store.clear()
    assert [e.kind for e in events] == ["add", "delete", "delete_nodes", "clear"]
    assert [n.node_id for n in events[0].nodes] == [n.node_id for n in nodes[:6]]
    assert sorted(events[1].node_ids) == ["node-1", "node-4"] and events[1].ref_doc_id == "doc-1"
    assert events[2].node_ids == ["node-0"]


def test_iter_nodes_and_get_nodes(qdrant_client: Any, nodes: list[TextNode]) -> None:
    store = CachedQdrantVectorStore("c", client=qdrant_client)
    assert list(store.iter_nodes()) == []
    store.add(nodes)
    seen = {n.node_id: n for n in store.iter_nodes(batch_size=7)}
    assert set(seen) == {n.node_id for n in nodes}
    assert seen["node-9"].get_content() == nodes[9].get_content()
    got = store.get_nodes(node_ids=["node-1", "node-2"])
    assert {n.node_id for n in got} == {"node-1", "node-2"}
    assert np.allclose(got[0].embedding, nodes[int(got[0].node_id[5:])].embedding, atol=1e-6)
    reds = store.get_nodes(
        filters=MetadataFilters(filters=[MetadataFilter(key="colour", value="red")]), limit=3
    )
    assert len(reds) == 3 and all(n.metadata["colour"] == "red" for n in reds)


def test_health_reports_collection(qdrant_client: Any, nodes: list[TextNode]) -> None:
    store = CachedQdrantVectorStore("c", client=qdrant_client)
    report = store.health()
    assert report["reachable"] and not report["exists"] and report["error"] is None
    store.add(nodes)
    report = store.health()
    assert report["exists"] and report["points"] == len(nodes) and report["drift"] == []
    assert report["layout"]["size"] == DIM


def test_query_on_missing_collection_is_empty(qdrant_client: Any) -> None:
    store = CachedQdrantVectorStore("none", client=qdrant_client)
    assert store.query(_q([1.0] * DIM)).ids == []
    store.delete("doc-x")  # no collection: nothing to do


async def test_async_twins_share_logic(
    qdrant_client: Any, nodes: list[TextNode], tmp_path: Path
) -> None:
    store = CachedQdrantVectorStore("a", client=qdrant_client, cache_dir=tmp_path / "cache")
    assert await store.async_add(nodes) == [n.node_id for n in nodes]
    result = await store.aquery(_q(nodes[5].embedding))
    assert (
        result.ids
        == store.query(_q(nodes[5].embedding)).ids
        == _brute_force(nodes, nodes[5].embedding, 5)
    )
    await store.adelete("doc-2")
    assert all(n.ref_doc_id != "doc-2" for n in await store.aget_nodes())
    await store.adelete_nodes(["node-1"])
    assert "node-1" not in (await store.aquery(_q(nodes[1].embedding, 30))).ids
    assert [n async for n in store.aiter_nodes()] != []
    assert (await store.ahealth())["exists"]
    await store.aclear()
    assert not qdrant_client.collection_exists(collection_name="a")


def test_collection_settings_validation() -> None:
    with pytest.raises(ValueError):
        CollectionSettings(distance="cosine")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        CollectionSettings(quantization="int4")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        CollectionSettings(payload_indexes={"x": "geo"})  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        CollectionSettings(shard_number=0)
    kwargs = CollectionSettings(
        hnsw_m=32,
        quantization="product",
        shard_number=2,
        replication_factor=2,
        on_disk_payload=True,
    ).create_kwargs("c", 8, hybrid=True)
    assert kwargs["hnsw_config"].m == 32 and kwargs["shard_number"] == 2
    assert kwargs["quantization_config"].product is not None
    assert kwargs["sparse_vectors_config"]["text-sparse-new"].modifier.value == "idf"
    indexes = CollectionSettings(payload_indexes={"year": "integer"}).payload_index_kwargs("c")
    assert [(i["field_name"], i["field_schema"].value) for i in indexes] == [
        ("doc_id", "keyword"),
        ("year", "integer"),
    ]


async def test_async_client_only(nodes: list[TextNode], tmp_path: Path) -> None:
    from qdrant_client import AsyncQdrantClient

    aclient = AsyncQdrantClient(":memory:")
    store = CachedQdrantVectorStore("ac", aclient=aclient, cache_dir=tmp_path, enable_hybrid=True)
    await store.async_add(nodes)
    result = await store.aquery(_q(nodes[8].embedding, 4))
    assert result.ids == _brute_force(nodes, nodes[8].embedding, 4)
    hybrid = await store.aquery(
        VectorStoreQuery(
            query_embedding=nodes[8].embedding,
            query_str="topic3",
            similarity_top_k=4,
            mode=VectorStoreQueryMode.HYBRID,
        )
    )
    assert "node-8" in hybrid.ids
    await store.adelete("doc-2")
    assert (await store.aquery(_q(nodes[8].embedding, 4))).ids[0] != "node-8"  # node-8 is in doc-2
    report = await store.ahealth()
    assert report["points"] == len(nodes) - 10
    with pytest.raises(ValueError, match="async client"):
        store.query(_q(nodes[0].embedding))
    await aclient.close()
