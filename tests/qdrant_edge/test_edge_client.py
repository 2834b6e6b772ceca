"""EdgeQdrantClient against qdrant-client local mode: the same calls give the same answers.

Local mode is the reference (qdrant-client's congruence tests are the model): every filter,
query and write below runs on both and the results are compared.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qdrant_client import QdrantClient
from qdrant_client.http import models as qm

from ragdrop.qdrant_edge import (
    AsyncEdgeQdrantClient,
    EdgeQdrantClient,
    EdgeStorageError,
    embedded_client,
)

pytestmark = [
    pytest.mark.integration,
    # local mode, the reference here, warns that its payload indexes do nothing
    pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning"),
]

DIM = 8
N = 60
KEYWORDS = ["red", "green", "blue", "grey"]
WORDS = ["apple", "pear", "plum", "fig", "kiwi"]


def _points(n: int = N, seed: int = 0) -> list[qm.PointStruct]:
    rng = np.random.default_rng(seed)
    points = []
    for i in range(n):
        payload: dict[str, Any] = {
            "i": i,
            "f": round(float(rng.normal()), 3),
            "kw": KEYWORDS[i % 4],
            "flag": bool(i % 3 == 0),
            "tags": [KEYWORDS[j] for j in range(i % 3)],
            "title": " ".join(WORDS[(i + k) % 5] for k in range(1 + i % 3)),
            "meta": {"a": i % 7},
        }
        if i % 5 == 0:
            payload["opt"] = None
        elif i % 5 == 1:
            payload["opt"] = i
        vector = {
            "dense": rng.normal(size=DIM).tolist(),
            # distinct weights: no ties, so top-k sets are well defined on both engines
            "sparse": qm.SparseVector(
                indices=[i % 11, 11 + i % 5], values=[1.0 + i / 64, 0.5 + i / 128]
            ),
        }
        points.append(qm.PointStruct(id=i + 1, vector=vector, payload=payload))
    return points


def _create(client: Any, name: str = "c") -> None:
    client.create_collection(
        name,
        vectors_config={"dense": qm.VectorParams(size=DIM, distance=qm.Distance.COSINE)},
        sparse_vectors_config={"sparse": qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
    )
    client.create_payload_index(name, "kw", qm.PayloadSchemaType.KEYWORD)
    client.create_payload_index(
        name,
        "title",
        qm.TextIndexParams(
            type=qm.TextIndexType.TEXT,
            tokenizer=qm.TokenizerType.WORD,
            lowercase=True,
            scoring=True,
        ),
    )


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """(Edge, local mode) holding the same collection ``c``."""
    edge = EdgeQdrantClient(path=tmp_path_factory.mktemp("edge"))
    local = QdrantClient(":memory:")
    for client in (edge, local):
        _create(client)
        client.upsert("c", _points())
    yield edge, local
    edge.close()
    local.close()


@pytest.fixture()
def edge(tmp_path: Path) -> Iterator[EdgeQdrantClient]:
    client = EdgeQdrantClient(path=tmp_path / "edge")
    yield client
    client.close()


def _ids(client: Any, flt: qm.Filter | None) -> set[Any]:
    records, _ = client.scroll("c", scroll_filter=flt, limit=1000, with_payload=False)
    return {r.id for r in records}


# -- filters: every condition type, random nesting ---------------------------------------


def _field(key: str, **condition: Any) -> Any:
    return st.builds(qm.FieldCondition, key=st.just(key), **condition)


def _match_of(model: Any, **values: Any) -> Any:
    return st.builds(model, **values)


def _match_except(values: list[str]) -> qm.MatchExcept:
    return qm.MatchExcept(**{"except": values})


_keywords = st.lists(st.sampled_from(KEYWORDS), min_size=1, max_size=3)
_match = st.one_of(
    _field("kw", match=_match_of(qm.MatchValue, value=st.sampled_from(KEYWORDS))),
    _field("i", match=_match_of(qm.MatchValue, value=st.integers(0, N))),
    _field("meta.a", match=_match_of(qm.MatchValue, value=st.integers(0, 6))),
    _field("kw", match=_match_of(qm.MatchAny, any=_keywords)),
    _field("i", match=_match_of(qm.MatchAny, any=st.lists(st.integers(0, N), min_size=1))),
    _field("tags", match=_keywords.map(_match_except)),
    _field("title", match=_match_of(qm.MatchText, text=st.sampled_from(WORDS))),
    _field("f", range=st.builds(qm.Range, gte=st.floats(-2, 2), lt=st.floats(-2, 2))),
    _field("i", range=st.builds(qm.Range, gt=st.integers(-1, N), lte=st.integers(0, N))),
    _field("tags", values_count=st.builds(qm.ValuesCount, gte=st.integers(0, 3))),
    st.builds(
        qm.IsEmptyCondition,
        is_empty=st.builds(qm.PayloadField, key=st.sampled_from(["opt", "tags", "missing", "i"])),
    ),
    st.builds(
        qm.IsNullCondition, is_null=st.builds(qm.PayloadField, key=st.sampled_from(["opt", "i"]))
    ),
    st.builds(qm.HasIdCondition, has_id=st.lists(st.integers(1, N), max_size=6)),
    st.just(qm.HasVectorCondition(has_vector="sparse")),
)


def _filters(children: Any) -> Any:
    parts = st.lists(children, max_size=3)
    return st.builds(qm.Filter, must=parts, should=parts, must_not=parts)


def _as_filter(condition: Any) -> qm.Filter:
    return condition if isinstance(condition, qm.Filter) else qm.Filter(must=[condition])


FILTERS = st.recursive(_match, _filters, max_leaves=6).map(_as_filter)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flt=FILTERS)
def test_filters_select_the_same_points_as_local_mode(
    pair: tuple[Any, Any], flt: qm.Filter
) -> None:
    edge, local = pair
    expected = _ids(local, flt)
    assert _ids(edge, flt) == expected
    assert edge.count("c", count_filter=flt).count == len(expected)


def test_min_should_and_nested_conditions(pair: tuple[Any, Any]) -> None:
    edge, local = pair
    flt = qm.Filter(
        min_should=qm.MinShould(
            conditions=[
                qm.FieldCondition(key="kw", match=qm.MatchValue(value="red")),
                qm.FieldCondition(key="i", match=qm.MatchAny(any=[3, 6, 9, 12])),
                qm.FieldCondition(key="i", range=qm.Range(lt=20)),
            ],
            min_count=2,
        )
    )
    assert _ids(edge, flt) == _ids(local, flt) != set()


# -- queries ------------------------------------------------------------------------------


def test_exact_dense_query_matches_local_mode(pair: tuple[Any, Any]) -> None:
    edge, local = pair
    rng = np.random.default_rng(1)
    flt = qm.Filter(must_not=[qm.FieldCondition(key="kw", match=qm.MatchValue(value="red"))])
    for _ in range(5):
        vector = rng.normal(size=DIM).tolist()
        kwargs: dict[str, Any] = {"query": vector, "using": "dense", "limit": 7}
        got = edge.query_points("c", query_filter=flt, **kwargs).points
        want = local.query_points("c", query_filter=flt, **kwargs).points
        assert [p.id for p in got] == [p.id for p in want]
        assert [p.score for p in got] == pytest.approx([p.score for p in want], abs=1e-5)
        assert [p.payload for p in got] == [p.payload for p in want]


def test_query_by_point_id_excludes_that_point(pair: tuple[Any, Any]) -> None:
    edge, local = pair
    got = edge.query_points("c", query=5, using="dense", limit=4).points
    want = local.query_points("c", query=5, using="dense", limit=4).points
    assert [p.id for p in got] == [p.id for p in want] and 5 not in [p.id for p in got]


def _assert_same_ranking(got: list[Any], want: list[Any]) -> None:
    """Equal scores in order, and equal ids except among ties (RRF scores tie often)."""
    assert [p.score for p in got] == pytest.approx([p.score for p in want], rel=1e-4)
    got_scores = {p.id: p.score for p in got}
    for point in want:
        if sum(abs(q.score - point.score) < 1e-6 for q in want) == 1:
            assert got_scores.get(point.id) == pytest.approx(point.score, rel=1e-4), point.id


def _rrf(rankings: list[list[Any]], k: int) -> dict[Any, float]:
    scores: dict[Any, float] = {}
    for ranking in rankings:
        for rank, point_id in enumerate(ranking):
            scores[point_id] = scores.get(point_id, 0.0) + 1.0 / (k + rank)  # Qdrant: 0-based
    return scores


@pytest.mark.parametrize(
    ("text_prefetch", "fusion", "k"),
    [(False, qm.RrfQuery(rrf=qm.Rrf(k=60)), 60), (True, qm.FusionQuery(fusion=qm.Fusion.RRF), 2)],
)
def test_sparse_text_and_fusion_queries(
    pair: tuple[Any, Any], text_prefetch: bool, fusion: Any, k: int
) -> None:
    """Each prefetch ranks like local mode; the fused list is RRF of Edge's own prefetches."""
    edge, local = pair
    sparse = qm.SparseVector(indices=[3, 12], values=[1.0, 1.0])
    dense = np.random.default_rng(2).normal(size=DIM).tolist()
    second = (
        qm.Prefetch(query=qm.TextQuery(text="plum fig"), using="title", limit=10)
        if text_prefetch
        else qm.Prefetch(query=sparse, using="sparse", limit=10)
    )
    prefetch = [qm.Prefetch(query=dense, using="dense", limit=10), second]
    rankings = []
    for p in prefetch:
        request = {"query": p.query, "using": p.using, "limit": p.limit}
        got = edge.query_points("c", **request).points
        _assert_same_ranking(got, local.query_points("c", **request).points)
        rankings.append([point.id for point in got])
    fused = edge.query_points("c", prefetch=prefetch, query=fusion, limit=8).points
    expected = _rrf(rankings, k)
    assert [p.score for p in fused] == pytest.approx(sorted(expected.values(), reverse=True)[:8])
    assert all(p.score == pytest.approx(expected[p.id]) for p in fused)


def test_text_query_ranks_like_local_mode(pair: tuple[Any, Any]) -> None:
    edge, local = pair
    kwargs: dict[str, Any] = {
        "query": qm.TextQuery(text="kiwi plum"),
        "using": "title",
        "limit": 60,
    }
    got = edge.query_points("c", **kwargs).points
    want = local.query_points("c", **kwargs).points
    _assert_same_ranking(got, want)


def test_batch_and_async_queries_equal_single_queries(pair: tuple[Any, Any]) -> None:
    edge, _ = pair
    vectors = np.random.default_rng(3).normal(size=(3, DIM))
    requests = [qm.QueryRequest(query=v.tolist(), using="dense", limit=4) for v in vectors]
    batch = edge.query_batch_points("c", requests=requests)
    single = [edge.query_points("c", query=v.tolist(), using="dense", limit=4) for v in vectors]
    assert [[p.id for p in r.points] for r in batch] == [[p.id for p in r.points] for r in single]

    aclient = AsyncEdgeQdrantClient(edge)

    async def run() -> list[Any]:
        return await asyncio.gather(
            *(aclient.query_points("c", query=v.tolist(), using="dense", limit=4) for v in vectors)
        )

    results = asyncio.run(run())
    assert [[p.id for p in r.points] for r in results] == [[p.id for p in r.points] for r in single]


def test_scroll_pages_cover_every_point_once(pair: tuple[Any, Any]) -> None:
    edge, _ = pair
    seen: list[Any] = []
    offset = None
    while True:
        records, offset = edge.scroll("c", limit=7, offset=offset, with_payload=["i"])
        seen.extend(r.id for r in records)
        assert all(set(r.payload or {}) == {"i"} for r in records)
        if offset is None:
            break
    assert sorted(seen) == list(range(1, N + 1))


def test_unsupported_requests_raise(pair: tuple[Any, Any]) -> None:
    edge, _ = pair
    with pytest.raises(NotImplementedError, match="RecommendQuery"):
        edge.query_points("c", query=qm.RecommendQuery(recommend=qm.RecommendInput(positive=[1])))
    with pytest.raises(NotImplementedError, match="lookup_from"):
        edge.query_points(
            "c", query=1, using="dense", lookup_from=qm.LookupLocation(collection="c")
        )
    with pytest.raises(NotImplementedError, match="snapshot"):
        edge.create_snapshot("c")
    with pytest.raises(ValueError, match="not found"):
        edge.count("nope")
    # qdrant-edge-py 0.9 matches True as the integer 1: refused instead of answering wrongly
    flag = qm.Filter(must=[qm.FieldCondition(key="flag", match=qm.MatchValue(value=True))])
    with pytest.raises(NotImplementedError, match="booleans"):
        edge.count("c", count_filter=flag)


# -- writes ---------------------------------------------------------------------------------


def _both(tmp_path: Path) -> tuple[EdgeQdrantClient, QdrantClient]:
    edge = EdgeQdrantClient(path=tmp_path / "edge")
    local = QdrantClient(":memory:")
    for client in (edge, local):
        _create(client)
        client.upsert("c", _points(20))
    return edge, local


def _state(client: Any) -> dict[Any, Any]:
    records, _ = client.scroll("c", limit=1000, with_vectors=True)
    return {r.id: (r.payload, r.vector["dense"]) for r in records}


def test_writes_leave_the_same_state_as_local_mode(tmp_path: Path) -> None:
    edge, local = _both(tmp_path)
    red = qm.Filter(must=[qm.FieldCondition(key="kw", match=qm.MatchValue(value="red"))])
    writes: list[tuple[str, dict[str, Any]]] = [
        ("set_payload", {"payload": {"new": 1}, "points": [1, 2, 3]}),
        ("set_payload", {"payload": {"tagged": True}, "points": qm.FilterSelector(filter=red)}),
        ("overwrite_payload", {"payload": {"only": "this"}, "points": [4]}),
        ("delete_payload", {"keys": ["f", "meta"], "points": [5, 6]}),
        ("clear_payload", {"points_selector": [7]}),
        ("update_vectors", {"points": [qm.PointVectors(id=8, vector={"dense": [1.0] * DIM})]}),
        ("delete", {"points_selector": qm.PointIdsList(points=[9, 10])}),
        ("delete", {"points_selector": qm.FilterSelector(filter=red)}),
        ("upsert", {"points": _points(25, seed=5)[18:]}),
    ]
    for method, kwargs in writes:
        getattr(edge, method)("c", **kwargs)
        getattr(local, method)("c", **kwargs)
        got, want = _state(edge), _state(local)
        assert got.keys() == want.keys(), method
        for point_id, (payload, vector) in want.items():
            assert got[point_id][0] == payload, (method, point_id)
            assert np.allclose(got[point_id][1], vector, atol=1e-6), (method, point_id)
    edge.close()
    local.close()


def test_upload_points_and_collection_build_the_index(edge: EdgeQdrantClient) -> None:
    edge.create_collection("u", vectors_config=qm.VectorParams(size=4, distance=qm.Distance.DOT))
    vectors = np.random.default_rng(4).normal(size=(300, 4)).astype(np.float32)
    edge.upload_collection(
        "u", vectors=vectors[:200], ids=range(200), payload=({"n": i} for i in range(200))
    )
    edge.upload_points(
        "u",
        (qm.PointStruct(id=i, vector=vectors[i].tolist()) for i in range(200, 300)),
        batch_size=7,
    )
    info = edge.get_collection("u")
    assert info.points_count == 300
    hits = edge.query_points("u", query=vectors[250], limit=1, with_vectors=True).points
    expected = int(np.argmax(vectors @ vectors[250]))
    assert hits[0].id == expected
    assert np.allclose(hits[0].vector, vectors[expected])


@pytest.mark.parametrize(
    "quantization",
    [
        qm.ScalarQuantization(
            scalar=qm.ScalarQuantizationConfig(type=qm.ScalarType.INT8, always_ram=True)
        ),
        qm.ProductQuantization(
            product=qm.ProductQuantizationConfig(compression=qm.CompressionRatio.X8)
        ),
    ],
    ids=["scalar", "product"],
)
def test_hnsw_with_quantization_finds_the_exact_neighbours(
    edge: EdgeQdrantClient, quantization: Any
) -> None:
    edge.create_collection(
        "q",
        vectors_config=qm.VectorParams(size=32, distance=qm.Distance.COSINE),
        hnsw_config=qm.HnswConfigDiff(m=8, ef_construct=64),
        optimizers_config=qm.OptimizersConfigDiff(indexing_threshold=10),
        quantization_config=quantization,
    )
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(20, 32))
    vectors = (centres[rng.integers(0, 20, 3000)] + 0.3 * rng.normal(size=(3000, 32))).astype(
        np.float32
    )
    edge.upload_collection("q", vectors=vectors, ids=range(3000))
    info = edge.get_collection("q")
    assert info.indexed_vectors_count == 3000  # auto_optimize built the HNSW graph
    assert info.config.hnsw_config.m == 8
    assert info.config.quantization_config == quantization
    normed = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    params = qm.SearchParams(
        hnsw_ef=128, quantization=qm.QuantizationSearchParams(rescore=True, oversampling=2.0)
    )
    for probe in rng.normal(size=(10, 32)):
        exact = set(np.argsort(-(normed @ (probe / np.linalg.norm(probe))))[:5].tolist())
        hits = edge.query_points("q", query=probe, limit=5, search_params=params).points
        assert len({p.id for p in hits} & exact) >= 4


# -- storage --------------------------------------------------------------------------------


def test_reopen_keeps_points_config_and_indexes(tmp_path: Path) -> None:
    client = EdgeQdrantClient(path=tmp_path / "edge")
    _create(client)
    client.upsert("c", _points(20))
    before = client.get_collection("c")
    client.close()
    reopened = EdgeQdrantClient(path=tmp_path / "edge")
    after = reopened.get_collection("c")
    assert after.points_count == 20
    assert after.config.params == before.config.params
    assert set(after.payload_schema) == {"kw", "title"}
    assert after.payload_schema["title"].params == before.payload_schema["title"].params
    assert (
        reopened.count(
            "c",
            count_filter=qm.Filter(
                must=[qm.FieldCondition(key="kw", match=qm.MatchValue(value="red"))]
            ),
        ).count
        == 5
    )
    assert reopened.delete_collection("c") is True
    assert not reopened.collection_exists("c")
    reopened.close()
    assert not EdgeQdrantClient(path=tmp_path / "edge").collection_exists("c")


def test_one_client_per_directory(tmp_path: Path) -> None:
    first = EdgeQdrantClient(path=tmp_path / "edge")
    _create(first)
    with pytest.raises(EdgeStorageError, match="Only one client"):
        EdgeQdrantClient(path=tmp_path / "edge")
    first.close()
    EdgeQdrantClient(path=tmp_path / "edge").close()


def test_storage_is_private_and_foreign_storage_is_refused(tmp_path: Path) -> None:
    client = EdgeQdrantClient(path=tmp_path / "edge")
    assert (tmp_path / "edge").stat().st_mode & 0o077 == 0
    client.close()
    QdrantClient(path=str(tmp_path / "local")).close()
    with pytest.raises(EdgeStorageError, match="local-mode"):
        EdgeQdrantClient(path=tmp_path / "local")
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    with pytest.raises(ValueError, match="writable by group or others"):
        EdgeQdrantClient(path=shared)


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden", "x" * 256])
def test_collection_names_are_validated(edge: EdgeQdrantClient, name: str) -> None:
    with pytest.raises(ValueError, match="collection_name"):
        edge.create_collection(
            name, vectors_config=qm.VectorParams(size=2, distance=qm.Distance.DOT)
        )


def test_bad_input_names_the_problem(edge: EdgeQdrantClient) -> None:
    edge.create_collection("b", vectors_config=qm.VectorParams(size=2, distance=qm.Distance.DOT))
    with pytest.raises(ValueError, match="point id"):
        edge.upsert("b", [qm.PointStruct(id="not-a-uuid", vector=[1.0, 0.0])])
    with pytest.raises(ValueError, match="Qdrant Edge rejected"):
        edge.upsert("b", [qm.PointStruct(id=1, vector=[1.0, 0.0, 3.0])])
    assert edge.count("b").count == 0


def test_embedded_client_picks_edge_but_keeps_local_mode_directories(tmp_path: Path) -> None:
    fresh = embedded_client(tmp_path / "fresh")
    assert isinstance(fresh, EdgeQdrantClient)
    fresh.close()
    QdrantClient(path=str(tmp_path / "old")).close()
    old = embedded_client(tmp_path / "old")
    assert not isinstance(old, EdgeQdrantClient) and isinstance(old, QdrantClient)
    old.close()
    forced = embedded_client(tmp_path / "forced", engine="local")
    assert not isinstance(forced, EdgeQdrantClient)
    forced.close()
    with pytest.raises(ValueError, match="engine='server'"):
        embedded_client(tmp_path / "x", engine="server")  # type: ignore[arg-type]


def test_small_writes_are_indexed_after_the_burst_and_deletes_are_vacuumed(
    edge: EdgeQdrantClient,
) -> None:
    edge.create_collection(
        "w",
        vectors_config=qm.VectorParams(size=16, distance=qm.Distance.COSINE),
        optimizers_config=qm.OptimizersConfigDiff(indexing_threshold=20),
    )
    vectors = np.random.default_rng(6).normal(size=(4000, 16))
    for start in range(0, 4000, 100):
        batch = range(start, start + 100)
        edge.upsert("w", [qm.PointStruct(id=i, vector=vectors[i].tolist()) for i in batch])
    hits = edge.query_points("w", query=vectors[1234], limit=1).points
    assert hits[0].id == 1234  # unindexed points are searched exactly
    assert edge.backend.optimizer.wait_idle(timeout=60)  # the background build after the burst
    info = edge.get_collection("w")
    assert info.points_count == info.indexed_vectors_count == 4000
    edge.delete("w", qm.PointIdsList(points=list(range(3000))))
    assert edge.backend.optimizer.wait_idle(timeout=60)
    info = edge.get_collection("w")
    assert info.points_count == 1000 and info.indexed_vectors_count == 1000  # vacuumed
    assert edge.query_points("w", query=vectors[3500], limit=1).points[0].id == 3500
