from __future__ import annotations

from pathlib import Path

import pytest
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)

from ragdrop.observability.stages import record_stages
from ragdrop.retrievers.bm25.retriever import BM25Retriever
from ragdrop.retrievers.bm25.tokenizer import BM25Tokenizer

pytestmark = pytest.mark.unit

TEXTS = {
    "n1": ("Qdrant stores vectors and payloads for search", {"lang": "en", "year": 2021}),
    "n2": ("BM25 ranks documents by term frequency", {"lang": "en", "year": 2023}),
    "n3": ("Vectors of documents are compared by cosine", {"lang": "de", "year": 2023}),
    "n4": ("Bread needs flour, water and yeast", {"lang": "en", "year": 2020}),
    "n5": ("Search engines rank documents with BM25 and vectors", {"lang": "fr", "year": 2024}),
}


def make_nodes() -> list[TextNode]:
    nodes = []
    for node_id, (text, meta) in TEXTS.items():
        node = TextNode(text=text, id_=node_id, metadata=dict(meta))
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=f"doc-{meta['lang']}")
        nodes.append(node)
    return nodes


def node_ids(results: list) -> list[str]:
    return [r.node.node_id for r in results]


def test_retrieves_best_first_and_times_the_stage() -> None:
    retriever = BM25Retriever(nodes=make_nodes(), similarity_top_k=2)
    with record_stages() as times:
        results = retriever.retrieve("bm25 ranking documents")
    assert node_ids(results) == ["n2", "n5"]
    assert results[0].score > results[1].score > 0
    assert "bm25" in times


def eq(key: str, value: object, op: FilterOperator = FilterOperator.EQ) -> MetadataFilter:
    return MetadataFilter(key=key, value=value, operator=op)


@pytest.mark.parametrize(
    ("filters", "allowed"),
    [
        (MetadataFilters(filters=[eq("lang", "en")]), {"n1", "n2", "n4"}),
        (MetadataFilters(filters=[eq("year", 2023, FilterOperator.GTE)]), {"n2", "n3", "n5"}),
        (
            MetadataFilters(
                filters=[eq("lang", "de"), eq("lang", "fr")], condition=FilterCondition.OR
            ),
            {"n3", "n5"},
        ),
        (
            MetadataFilters(
                filters=[
                    eq("year", 2023, FilterOperator.GTE),
                    MetadataFilters(filters=[eq("lang", "en")], condition=FilterCondition.NOT),
                ]
            ),
            {"n3", "n5"},
        ),
        (MetadataFilters(filters=[eq("lang", ["de", "xx"], FilterOperator.IN)]), {"n3"}),
        (MetadataFilters(filters=[eq("missing", "x")]), set()),
    ],
)
def test_filters_never_leak_and_top_k_counts_after_filtering(
    filters: MetadataFilters, allowed: set[str]
) -> None:
    retriever = BM25Retriever(nodes=make_nodes(), similarity_top_k=2)
    query = "documents vectors search bm25 bread"
    results = retriever.with_filters(filters).retrieve(query)
    assert set(node_ids(results)) <= allowed
    everything = BM25Retriever(nodes=make_nodes(), similarity_top_k=10).retrieve(query)
    expected = [i for i in node_ids(everything) if i in allowed][:2]
    assert node_ids(results) == expected
    # the view did not change the original
    assert retriever.filters is None


def test_add_delete_and_ref_doc_delete() -> None:
    retriever = BM25Retriever(nodes=make_nodes(), similarity_top_k=10)
    retriever.add_nodes([TextNode(text="yeast makes bread rise", id_="n6")])
    assert node_ids(retriever.retrieve("yeast"))[:2] == ["n6", "n4"]
    assert retriever.delete_ref_doc("doc-en") == 3
    assert set(retriever.index.ids) == {"n3", "n5", "n6"}
    assert retriever.delete_nodes(["n6", "unknown"]) == 1
    assert retriever.retrieve("yeast") == []
    # replacing a node keeps one copy with the new text
    retriever.add_nodes([TextNode(text=f"filler text {i}", id_=f"f{i}") for i in range(3)])
    retriever.add_nodes([TextNode(text="cosine similarity", id_="n3")])
    assert node_ids(retriever.retrieve("cosine")) == ["n3"]
    assert retriever.retrieve("compared") == []


def test_empty_corpus_and_query() -> None:
    assert BM25Retriever().retrieve("anything") == []
    assert BM25Retriever(nodes=make_nodes()).retrieve("the and of") == []


def test_never_mutates_input_nodes() -> None:
    nodes = make_nodes()
    before = [n.model_dump() for n in nodes]
    BM25Retriever(nodes=nodes).retrieve("documents")
    assert [n.model_dump() for n in nodes] == before


def test_persist_round_trip_keeps_tokenizer_and_results(tmp_path: Path) -> None:
    tok = BM25Tokenizer(stopwords="en_plus", stemmer="english")
    retriever = BM25Retriever(nodes=make_nodes(), tokenizer=tok, similarity_top_k=3)
    retriever.persist(tmp_path / "bm25")
    loaded = BM25Retriever.from_persist_dir(tmp_path / "bm25")
    assert loaded.index.tokenizer == tok
    assert loaded.similarity_top_k == 3
    query = "ranking documents vectors"
    assert [(r.node.node_id, r.score, r.node.text) for r in loaded.retrieve(query)] == [
        (r.node.node_id, r.score, r.node.text) for r in retriever.retrieve(query)
    ]
    flt = MetadataFilters(filters=[eq("lang", "fr")])
    assert node_ids(loaded.with_filters(flt).retrieve(query)) == ["n5"]
    assert loaded.delete_ref_doc("doc-fr") == 1


async def test_async_equals_sync() -> None:
    retriever = BM25Retriever(nodes=make_nodes())
    sync = retriever.retrieve("documents vectors")
    result = await retriever.aretrieve("documents vectors")
    assert [(r.node.node_id, r.score) for r in result] == [(r.node.node_id, r.score) for r in sync]


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="similarity_top_k"):
        BM25Retriever(similarity_top_k=0)
    with pytest.raises(TypeError, match="filters"):
        BM25Retriever(filters={"lang": "en"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="nodes"):
        BM25Retriever(nodes=["text"])  # type: ignore[list-item]


def test_top_k_zero_and_invalid_values_raise() -> None:
    retriever = BM25Retriever(nodes=make_nodes(), similarity_top_k=2)
    assert len(retriever.search("documents")) == 2
    assert len(retriever.search("documents", top_k=1)) == 1
    for bad in (0, -1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="top_k"):
            retriever.search("documents", top_k=bad)
    with pytest.raises(ValueError, match="similarity_top_k"):
        BM25Retriever(similarity_top_k=0)


def test_persist_replaces_the_whole_generation(tmp_path: Path) -> None:
    path = tmp_path / "bm25"
    first = BM25Retriever(nodes=make_nodes(), keep_nodes=False)
    first.persist(path)
    (path / "stray.txt").write_text("from an older generation", encoding="utf-8")
    second = BM25Retriever(nodes=make_nodes()[:2], similarity_top_k=4)
    second.persist(path)
    assert sorted(p.name for p in path.iterdir()) == ["index", "nodes.jsonl", "retriever.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["bm25"]  # no temp or old dirs left
    loaded = BM25Retriever.from_persist_dir(path)
    assert sorted(loaded.index.ids) == ["n1", "n2"]
    assert sorted(loaded.kept_nodes) == ["n1", "n2"]
    assert loaded.similarity_top_k == 4


def test_failed_persist_keeps_the_old_generation_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bm25"
    BM25Retriever(nodes=make_nodes()).persist(path)
    retriever = BM25Retriever(nodes=make_nodes()[:1])

    def broken_to_json(*args: object, **kwargs: object) -> str:
        raise OSError("disk full")

    monkeypatch.setattr("ragdrop.retrievers.bm25.retriever.doc_to_json", broken_to_json)
    with pytest.raises(OSError, match="disk full"):
        retriever.persist(path)
    assert [p.name for p in tmp_path.iterdir()] == ["bm25"]
    assert len(BM25Retriever.from_persist_dir(path).index) == len(TEXTS)


def test_load_rejects_nodes_file_of_another_generation(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    BM25Retriever(nodes=make_nodes()[:2]).persist(old)
    BM25Retriever(nodes=make_nodes()[2:4]).persist(new)
    (new / "nodes.jsonl").write_bytes((old / "nodes.jsonl").read_bytes())
    with pytest.raises(ValueError, match="disagree"):
        BM25Retriever.from_persist_dir(new)
