from __future__ import annotations

import numpy as np
import pytest
from llama_index.core.schema import QueryBundle, TextNode
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters

from ragdrop.retrievers.dense import ArrayVectorRetriever

pytestmark = pytest.mark.unit


def nodes() -> list[TextNode]:
    rng = np.random.default_rng(0)
    return [
        TextNode(
            text=f"node {i}",
            id_=f"n{i}",
            metadata={"group": i % 3},
            embedding=rng.normal(size=8).tolist(),
        )
        for i in range(30)
    ]


def test_exact_cosine_order_and_filters_before_top_k() -> None:
    items = nodes()
    query = np.random.default_rng(1).normal(size=8)
    matrix = np.array([n.embedding for n in items])
    cosine = matrix @ query / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query))
    retriever = ArrayVectorRetriever(items, similarity_top_k=5)
    got = retriever.retrieve(QueryBundle(query_str="q", embedding=query.tolist()))
    assert [r.node.node_id for r in got] == [f"n{i}" for i in np.argsort(-cosine)[:5]]
    assert got[0].score == pytest.approx(cosine.max(), abs=1e-5)
    flt = MetadataFilters(filters=[MetadataFilter(key="group", value=2)])
    filtered = retriever.with_filters(flt).retrieve(
        QueryBundle(query_str="q", embedding=query.tolist())
    )
    expected = [f"n{i}" for i in np.argsort(-cosine) if i % 3 == 2][:5]
    assert [r.node.node_id for r in filtered] == expected


def test_needs_an_embed_model_for_missing_embeddings() -> None:
    with pytest.raises(ValueError, match="embed_model"):
        ArrayVectorRetriever([TextNode(text="no vector")])
    assert ArrayVectorRetriever().retrieve(QueryBundle(query_str="q", embedding=[0.0] * 8)) == []


def test_views_see_later_adds_and_a_re_added_id_replaces_its_row() -> None:
    items = nodes()
    retriever = ArrayVectorRetriever(items[:10], similarity_top_k=30)
    view = retriever.with_filters(MetadataFilters(filters=[MetadataFilter(key="group", value=0)]))
    retriever.add_nodes(items[10:])
    query = QueryBundle(query_str="q", embedding=items[12].embedding)
    assert view.retrieve(query)[0].node.node_id == "n12"  # the view shares the new rows
    moved = items[12].model_copy(update={"embedding": [-x for x in items[12].embedding]})
    retriever.add_nodes([moved])
    got = [r.node.node_id for r in retriever.retrieve(query)]
    assert got.count("n12") == 1 and got[-1] == "n12"


def test_bad_vectors_raise_naming_the_problem() -> None:
    bad = TextNode(text="x", id_="nan", embedding=[float("nan")] * 8)
    with pytest.raises(ValueError, match="'nan'.*NaN"):
        ArrayVectorRetriever([bad])
    retriever = ArrayVectorRetriever(nodes())
    with pytest.raises(ValueError, match="query_embedding must be 8"):
        retriever.retrieve(QueryBundle(query_str="q", embedding=[0.1] * 3))
