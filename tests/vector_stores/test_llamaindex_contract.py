"""LlamaIndex's vector-store contract, part 1: query modes, ``doc_ids``/``node_ids``,
``get_nodes`` and the writes, on our store and on LlamaIndex's Qdrant store.

The matrix and the xfail rule: ``llamaindex_contract`` (the harness). Filters are in
``test_llamaindex_contract_filters``, custom ids, ``text_key`` and cross-store reading in
``test_llamaindex_contract_interop``.
"""

from __future__ import annotations

from pathlib import Path

import llamaindex_contract as harness
import pytest
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from llamaindex_contract import (
    Q1,
    Q2,
    Q3,
    Q4,
    Contract,
    Engine,
    build_store,
    by_similarity,
    contract_nodes,
    dense,
    llama_fails,
    uid,
)
from qdrant_client.http import models as qm

pytestmark = pytest.mark.integration

M = VectorStoreQueryMode

# The harness's matrix: implementation × engine × I/O path.
impl, backend, io, engine = harness.impl, harness.backend, harness.io, harness.engine
reader, hybrid_reader, contract, filled = (
    harness.reader, harness.hybrid_reader, harness.contract, harness.filled,
)  # fmt: skip


# -- query modes --------------------------------------------------------------------------------
async def test_default_mode_ranks_by_similarity(reader: Contract) -> None:
    result = await reader.query(dense(Q1, top_k=4))
    assert [n.node_id for n in result.nodes or []] == by_similarity(Q1)[:4]
    assert result.ids is not None and result.similarities is not None
    assert len(result.ids) == len(result.similarities) == 4
    assert list(result.similarities) == sorted(result.similarities, reverse=True)


async def test_results_carry_text_metadata_and_document(reader: Contract) -> None:
    result = await reader.query(dense([0.0, 0.0, 1.0], top_k=1))
    node = (result.nodes or [])[0]
    want = contract_nodes()[5]
    assert isinstance(node, TextNode)
    assert (node.node_id, node.text, node.metadata, node.ref_doc_id) == (
        want.node_id, want.text, want.metadata, want.ref_doc_id,
    )  # fmt: skip


@pytest.mark.parametrize("top_k", [1, 6, 50])
async def test_similarity_top_k_bounds_the_answer(reader: Contract, top_k: int) -> None:
    """``top_k`` results, or every node when the collection holds fewer, best first."""
    assert await reader.ids(dense(Q3, top_k=top_k)) == by_similarity(Q3)[:top_k]


async def test_top_k_applies_after_the_filter(reader: Contract) -> None:
    flt = MetadataFilters(filters=[MetadataFilter(key="rank", value="c")])
    assert await reader.ids(dense([0.0, 1.0, 0.0], top_k=1, filters=flt)) == [uid(3)]


async def test_query_str_only_sparse_query(hybrid_reader: Contract) -> None:
    """SPARSE mode needs no embedding: ``query_str`` alone finds the keyword's node."""
    query = VectorStoreQuery(query_str="zebra", similarity_top_k=2, mode=M.SPARSE)
    assert await hybrid_reader.ids(query) == [uid(5)]


async def test_hybrid_returns_dense_and_sparse_best(hybrid_reader: Contract) -> None:
    """similarity_top_k=1, sparse_top_k=1, hybrid_top_k=2: the best of each side."""
    query = VectorStoreQuery(
        query_embedding=[1.0, 0.0, 0.0],
        query_str="zebra",
        similarity_top_k=1,
        sparse_top_k=1,
        hybrid_top_k=2,
        mode=M.HYBRID,
    )
    assert set(await hybrid_reader.ids(query)) == {uid(0), uid(5)}


async def test_hybrid_collection_answers_dense_queries(hybrid_reader: Contract) -> None:
    assert await hybrid_reader.ids(dense(Q4, top_k=3)) == by_similarity(Q4)[:3]


@pytest.mark.parametrize("threshold", [0.0, 0.3, 1.0])
async def test_mmr_trades_relevance_for_diversity(
    request: pytest.FixtureRequest, impl: str, reader: Contract, threshold: float
) -> None:
    """LlamaIndex's ``mmr_threshold``: 1 ranks by relevance alone; lower values skip node 1,
    a near-duplicate of node 0, for a node unlike node 0."""
    if threshold != 1.0:
        llama_fails(request, impl, "mode=MMR runs a plain dense search (no diversity)")
    query = dense([1.0, 0.0, 0.0], top_k=2, mode=M.MMR)
    ids = await reader.ids(query, mmr_threshold=threshold)
    if threshold == 1.0:
        assert ids == [uid(0), uid(1)]
    else:
        assert ids[0] == uid(0) and ids[1] in {uid(3), uid(4), uid(5)}


async def test_unsupported_mode_is_refused(
    request: pytest.FixtureRequest, impl: str, reader: Contract
) -> None:
    """A mode the store cannot run (TEXT_SEARCH, SVM) raises instead of answering another."""
    llama_fails(request, impl, "an unsupported mode silently runs a dense search")
    for mode in (M.TEXT_SEARCH, M.SVM):
        with pytest.raises((ValueError, NotImplementedError)):
            await reader.query(dense([1.0, 0.0, 0.0], mode=mode, query_str="zebra"))


async def test_qdrant_filters_kwarg_overrides_metadata_filters(reader: Contract) -> None:
    ignored = MetadataFilters(filters=[MetadataFilter(key="rank", value="a")])
    native = qm.Filter(must=[qm.FieldCondition(key="rank", match=qm.MatchValue(value="e"))])
    query = dense([1.0, 0.0, 0.0], filters=ignored)
    assert await reader.ids(query, qdrant_filters=native) == [uid(5)]


# -- doc_ids and node_ids -------------------------------------------------------------------------
DOC_ID_CASES = [
    ("none", None, [0, 1, 2, 3, 4, 5], M.DEFAULT),
    ("one", ["doc-a"], [0, 1], M.DEFAULT),
    ("two", ["doc-a", "doc-c"], [0, 1, 4, 5], M.DEFAULT),
    ("missing", ["missing"], [], M.DEFAULT),
    ("empty", [], [0, 1, 2, 3, 4, 5], M.DEFAULT),
    ("one-mmr", ["doc-c"], [4, 5], M.MMR),
    ("empty-mmr", [], [0, 1, 2, 3, 4, 5], M.MMR),
]


@pytest.mark.parametrize(
    ("doc_ids", "expected", "mode"), [c[1:] for c in DOC_ID_CASES], ids=[c[0] for c in DOC_ID_CASES]
)
async def test_doc_ids_constrain_documents(
    request: pytest.FixtureRequest,
    impl: str,
    reader: Contract,
    doc_ids: list[str] | None,
    expected: list[int],
    mode: VectorStoreQueryMode,
) -> None:
    """``doc_ids`` keeps the nodes of those documents, in every mode; an empty list constrains
    nothing (LlamaIndex's ``QdrantVectorStore``; see `test_empty_node_ids_constrain_nothing`)."""
    query = dense(Q2, top_k=10, doc_ids=doc_ids, mode=mode)
    assert set(await reader.ids(query)) == {uid(i) for i in expected}


async def test_node_ids_constrain_the_search(reader: Contract) -> None:
    query = dense([1.0, 0.0, 0.0], node_ids=[uid(2), uid(4)])
    assert await reader.ids(query) == [uid(2), uid(4)]


async def test_empty_node_ids_constrain_nothing(reader: Contract) -> None:
    """``node_ids=[]`` constrains nothing, as in LlamaIndex's ``QdrantVectorStore``:
    ``VectorStoreIndex.as_retriever()`` passes the index's node ids, an empty list when the
    store holds the text, so reading it as "no node" would answer every such query empty."""
    assert len(await reader.ids(dense(Q1, top_k=10, node_ids=[]))) == 6


async def test_doc_ids_node_ids_and_filters_intersect(reader: Contract) -> None:
    query = dense(
        [1.0, 0.0, 0.0],
        doc_ids=["doc-a", "doc-b"],
        node_ids=[uid(0), uid(2), uid(3), uid(4)],
        filters=MetadataFilters(filters=[MetadataFilter(key="rank", value="c")]),
    )
    assert await reader.ids(query) == [uid(2), uid(3)]


# -- get_nodes ----------------------------------------------------------------------------------
async def test_get_nodes_by_ids_with_embeddings(reader: Contract) -> None:
    """Missing ids are skipped; nodes come back with their embeddings (normalised by a
    cosine collection, so compared by direction)."""
    import numpy as np

    got = await reader.get_nodes(node_ids=[uid(1), uid(4), uid(99)])
    assert sorted(n.node_id for n in got) == [uid(1), uid(4)]
    want = {n.node_id: n.embedding for n in contract_nodes()}
    for node in got:
        a, b = np.asarray(node.embedding, float), np.asarray(want[node.node_id], float)
        assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) == pytest.approx(1.0)


async def test_get_nodes_by_filters(reader: Contract) -> None:
    flt = MetadataFilters(
        filters=[MetadataFilter(key="extra", value=["x", "z"], operator=FilterOperator.IN)]
    )
    assert sorted(n.node_id for n in await reader.get_nodes(filters=flt)) == [uid(3), uid(5)]


async def test_get_nodes_by_ids_and_filters_intersect(reader: Contract) -> None:
    flt = MetadataFilters(filters=[MetadataFilter(key="rank", value="c")])
    got = await reader.get_nodes(node_ids=[uid(0), uid(2)], filters=flt)
    assert [n.node_id for n in got] == [uid(2)]


async def test_get_nodes_without_arguments_returns_all(reader: Contract) -> None:
    assert await reader.stored() == [uid(i) for i in range(6)]


async def test_get_nodes_limit(reader: Contract) -> None:
    assert len(await reader.get_nodes(limit=2)) == 2


# -- writes ---------------------------------------------------------------------------------------
async def test_add_returns_the_node_ids_in_order(contract: Contract) -> None:
    nodes = contract_nodes()
    assert await contract.add(nodes) == [n.node_id for n in nodes]


async def test_adding_a_node_id_again_replaces_it(filled: Contract) -> None:
    changed = contract_nodes()[2].model_copy(update={"text": "bananas are ripe"})
    await filled.add([changed])
    got = await filled.get_nodes(node_ids=[uid(2)])
    assert [(n.node_id, n.get_content()) for n in got] == [(uid(2), "bananas are ripe")]
    assert len(await filled.stored()) == 6


async def test_delete_removes_one_document(filled: Contract) -> None:
    await filled.delete("doc-b")
    gone = {uid(2), uid(3)}
    assert await filled.ids(dense(Q4)) == [i for i in by_similarity(Q4) if i not in gone]


async def test_delete_nodes_by_ids(filled: Contract) -> None:
    await filled.delete_nodes(node_ids=[uid(0), uid(5)])
    assert await filled.stored() == [uid(i) for i in (1, 2, 3, 4)]


async def test_delete_nodes_by_filters(filled: Contract) -> None:
    flt = MetadataFilters(
        filters=[MetadataFilter(key="count", value=4, operator=FilterOperator.GTE)]
    )
    await filled.delete_nodes(filters=flt)
    assert await filled.stored() == [uid(i) for i in (0, 1, 2)]


async def test_delete_nodes_by_ids_and_filters_intersect(filled: Contract) -> None:
    flt = MetadataFilters(filters=[MetadataFilter(key="rank", value="c")])
    await filled.delete_nodes(node_ids=[uid(0), uid(3)], filters=flt)
    assert await filled.stored() == [uid(i) for i in (0, 1, 2, 4, 5)]


async def test_delete_nodes_intersects_with_or_filters(
    request: pytest.FixtureRequest, impl: str, filled: Contract
) -> None:
    """Ids and filters intersect whatever the filters' condition is."""
    llama_fails(request, impl, "with an OR filter, node_ids join the filter's should (union)")
    flt = MetadataFilters(
        filters=[MetadataFilter(key="rank", value="c"), MetadataFilter(key="rank", value="d")],
        condition=FilterCondition.OR,
    )
    await filled.delete_nodes(node_ids=[uid(0), uid(4)], filters=flt)
    assert await filled.stored() == [uid(i) for i in (0, 1, 2, 3, 5)]


async def test_clear_then_add_again(filled: Contract) -> None:
    await filled.clear()
    await filled.add(contract_nodes()[:2])
    assert await filled.ids(dense([0.0, 1.0, 0.0])) == [uid(1), uid(0)]


async def test_a_cleared_store_reads_empty(
    request: pytest.FixtureRequest, impl: str, filled: Contract
) -> None:
    """After ``clear``, queries and ``get_nodes`` answer nothing (``SimpleVectorStore``)."""
    llama_fails(request, impl, "reads after clear raise 'Collection ... not found'")
    await filled.clear()
    assert await filled.ids(dense([1.0, 0.0, 0.0])) == []
    assert await filled.get_nodes() == []


async def test_nodes_persist_across_reopen(impl: str, backend: str, tmp_path: Path) -> None:
    """Written, closed, opened again: the same nodes, ranked the same (sync path)."""
    if backend == "memory":
        pytest.skip("nothing persists in :memory:")
    engine = Engine(backend, tmp_path, "sync")
    try:
        await Contract(build_store(impl, engine), "sync").add(contract_nodes())
        await engine.reopen()
        again = Contract(build_store(impl, engine), "sync")
        assert await again.ids(dense(Q1, top_k=3)) == by_similarity(Q1)[:3]
        assert len(await again.stored()) == 6
    finally:
        await engine.close()
