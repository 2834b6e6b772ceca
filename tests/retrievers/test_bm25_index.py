from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

from ragdrop.retrievers.bm25.index import RANK_BM25, BM25Index
from ragdrop.retrievers.bm25.tokenizer import BM25Tokenizer

pytestmark = pytest.mark.unit

WORDS = [f"w{i}" for i in range(12)]
doc_st = st.lists(st.sampled_from(WORDS), min_size=0, max_size=15)
corpus_st = st.lists(doc_st, min_size=1, max_size=25).filter(lambda c: any(c))
query_st = st.lists(st.sampled_from([*WORDS, "unknown"]), min_size=0, max_size=6)


def build(docs: list[list[str]], **kw: float) -> BM25Index:
    index = BM25Index(**{**RANK_BM25, **kw})  # type: ignore[arg-type]
    index.add_tokens([str(i) for i in range(len(docs))], docs)
    return index


@settings(max_examples=150, deadline=None)
@given(corpus_st, st.lists(query_st, min_size=1, max_size=4))
def test_scores_equal_rank_bm25(docs: list[list[str]], queries: list[list[str]]) -> None:
    index = build(docs)
    reference = BM25Okapi(docs)
    for query in queries:
        np.testing.assert_allclose(
            index.get_scores(query), reference.get_scores(query), atol=1e-9, rtol=0
        )


@pytest.mark.parametrize(
    ("k1", "b", "epsilon"), [(1.2, 0.5, 0.1), (2.0, 1.0, 0.5), (0.5, 0.0, 0.0)]
)
def test_scores_equal_rank_bm25_other_parameters(k1: float, b: float, epsilon: float) -> None:
    docs = [["a", "b", "a"], ["a", "c"], ["a", "b", "d", "d"], ["e"], []]
    index = build(docs, k1=k1, b=b, epsilon=epsilon)
    reference = BM25Okapi(docs, k1=k1, b=b, epsilon=epsilon)
    for query in (["a"], ["a", "a", "b"], ["d", "e", "zzz"]):
        # rank_bm25 gives 0/0 = nan for an empty document when b=1; a missing term scores 0.
        expected = np.nan_to_num(reference.get_scores(query), nan=0.0)
        np.testing.assert_allclose(index.get_scores(query), expected, atol=1e-9, rtol=0)


def test_negative_idf_gets_the_average_idf_floor() -> None:
    docs = [["common", "x"], ["common", "y"], ["common"], ["z"]]
    index = build(docs)
    reference = BM25Okapi(docs)
    assert reference.idf["common"] == pytest.approx(0.25 * reference.average_idf)
    np.testing.assert_allclose(
        index.get_scores(["common"]), reference.get_scores(["common"]), atol=1e-12
    )


def test_duplicate_query_terms_count_each_time() -> None:
    index = build([["a", "b"], ["b", "c"], ["c"]])
    single = index.search(["a"], top_k=1)[0][1]
    double = index.search(["a", "a"], top_k=1)[0][1]
    assert double == pytest.approx(2 * single)


@st.composite
def operations(draw: st.DrawFn) -> list[tuple[str, list[str], list[list[str]]]]:
    ops: list[tuple[str, list[str], list[list[str]]]] = []
    next_id = 0
    live: list[str] = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["add", "add", "delete", "update"]))
        if kind == "add" or not live:
            n = draw(st.integers(1, 6))
            ids = [f"d{next_id + i}" for i in range(n)]
            next_id += n
            ops.append(("add", ids, [draw(doc_st) for _ in ids]))
            live += ids
        else:
            ids = draw(st.lists(st.sampled_from(live), min_size=1, max_size=3, unique=True))
            if kind == "delete":
                ops.append(("delete", ids, []))
                live = [i for i in live if i not in ids]
            else:
                ops.append(("update", ids, [draw(doc_st) for _ in ids]))
    return ops


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations(), st.lists(query_st, min_size=1, max_size=3))
def test_incremental_updates_equal_a_rebuild(ops: list, queries: list[list[str]]) -> None:
    index = BM25Index(**RANK_BM25)
    state: dict[str, list[str]] = {}
    for kind, ids, docs in ops:
        if kind == "add":
            index.add_tokens(ids, docs)
            state.update(zip(ids, docs, strict=True))
        elif kind == "delete":
            index.delete(ids)
            for i in ids:
                del state[i]
        else:
            index.delete(ids)
            index.add_tokens(ids, docs)
            state.update(zip(ids, docs, strict=True))
    rebuilt = BM25Index(**RANK_BM25)
    rebuilt.add_tokens(list(state), list(state.values()))
    assert sorted(index.ids) == sorted(rebuilt.ids)
    for query in queries:
        got = dict(index.search(query, top_k=100))
        want = dict(rebuilt.search(query, top_k=100))
        assert got.keys() == want.keys()
        for key in want:
            assert got[key] == pytest.approx(want[key], abs=1e-9)
        if state and any(state.values()):
            reference = BM25Okapi(list(state.values()))
            expected = dict(zip(state, reference.get_scores(query), strict=True))
            for key, score in got.items():
                assert score == pytest.approx(expected[key], abs=1e-9)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations())
def test_term_counts_are_the_counted_tokens_through_any_writes(ops: list) -> None:
    index = BM25Index()
    state: dict[str, list[str]] = {}
    gone: set[str] = set()
    for kind, ids, docs in ops:
        if kind == "add":
            index.add_tokens(ids, docs)
            state.update(zip(ids, docs, strict=True))
        elif kind == "delete":
            index.delete(ids)
            gone.update(ids)
            for i in ids:
                del state[i]
        else:
            index.update(ids, [" ".join(doc) for doc in docs])
            state.update(zip(ids, docs, strict=True))
        # read after every write: a segment read by document, then merged or pruned
        for key, doc in state.items():
            assert index.term_counts(key) == dict(Counter(doc))
    for key in gone - set(state):
        assert index.term_counts(key) is None


def test_term_counts_survive_save_and_load(tmp_path: Path) -> None:
    index = BM25Index()
    texts = ["Cats purr; cats sleep all day", "Dogs bark at cats", ""]
    index.add(["a", "b", "c"], texts)
    index.save(tmp_path / "idx")
    loaded = BM25Index.load(tmp_path / "idx")
    before = loaded.memory_bytes()
    for key, text in zip(["a", "b", "c"], texts, strict=True):
        assert loaded.term_counts(key) == dict(Counter(index.tokenizer(text)))
    assert loaded.term_counts("a") == {"cat": 2, "purr": 1, "sleep": 1, "day": 1}
    assert loaded.term_counts("missing") is None
    assert loaded.memory_bytes() > before  # the by-document view is counted once built


def test_many_small_adds_keep_few_segments() -> None:
    index = BM25Index()
    for i in range(200):
        index.add_tokens([f"d{i}"], [["a", f"t{i}"]])
    assert index.n_segments <= 8
    assert len(index.search(["a"], top_k=500)) == 200


def test_empty_corpus_and_empty_query_return_nothing() -> None:
    assert BM25Index().search("anything") == []
    index = BM25Index()
    index.add(["a"], ["cats purr"])
    assert index.search("") == []
    assert index.search("the of and") == []
    assert index.search("unseen words") == []


def test_documents_holding_a_term_are_hits_even_at_score_zero() -> None:
    # "common" is in 3 of 4 docs: negative raw idf; with epsilon=0 its floor is 0. The
    # documents still hold the term, so they are returned (after any positive score).
    index = build([["common"], ["common"], ["common"], ["rare"]], epsilon=0.0)
    assert [k for k, _ in index.search(["common"], top_k=10)] == ["0", "1", "2"]
    assert [k for k, _ in index.search(["common", "rare"], top_k=10)][0] == "3"
    assert index.search(["absent"], top_k=10) == []


@pytest.mark.parametrize("idf", ["okapi", "lucene"])
@pytest.mark.parametrize("n_docs", [1, 2, 3])
def test_tiny_corpora_return_the_documents_holding_the_query_terms(idf: str, n_docs: int) -> None:
    texts = ["cats purr softly", "dogs bark loudly", "cats and dogs play"][:n_docs]
    index = BM25Index(idf=idf)
    index.add([str(i) for i in range(n_docs)], texts)
    hits = [k for k, _ in index.search("cats", top_k=5)]
    assert hits == [str(i) for i, t in enumerate(texts) if "cats" in t]
    assert index.search("giraffes", top_k=5) == []


def test_weighted_query_terms_scale_each_term() -> None:
    index = build([["red", "apple"], ["green", "apple"], ["red", "car"], ["blue", "sky"]])
    as_list = index.search(["red", "apple"], top_k=4)
    as_weights = index.search({"red": 1.0, "apple": 1.0}, top_k=4)
    assert as_list == as_weights
    doubled = dict(index.search({"red": 2.0}, top_k=4))
    single = dict(index.search(["red"], top_k=4))
    assert doubled == pytest.approx({k: 2 * v for k, v in single.items()})
    # "green" outweighs "red" once its weight is high enough.
    assert index.search({"red": 0.1, "green": 5.0}, top_k=1)[0][0] == "1"
    with pytest.raises(ValueError, match="query weights"):
        index.search({"red": float("nan")}, top_k=1)


def test_ties_break_by_insertion_order() -> None:
    index = build([["x"], ["x"], ["x"], ["y"], ["z"], ["v"], ["u"]])
    assert [k for k, _ in index.search(["x"], top_k=3)] == ["0", "1", "2"]


def test_accept_filters_before_top_k() -> None:
    index = build([["x", "x"], ["x"], ["x", "y"], ["y"], ["z"], ["v"], ["u"]])
    hits = index.search(["x"], top_k=1, accept=lambda key: key == "2")
    assert [k for k, _ in hits] == ["2"]


def test_add_existing_id_raises_and_update_replaces() -> None:
    index = BM25Index()
    index.add(["a", "b", "c"], ["cats", "birds", "fish"])
    with pytest.raises(ValueError, match="already indexed"):
        index.add(["a"], ["dogs"])
    index.update(["a"], ["dogs"])
    assert index.search("cats") == []
    assert index.search("dogs")[0][0] == "a"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"k1": -1}, "k1"),
        ({"b": 2}, "b must"),
        ({"epsilon": -0.1}, "epsilon"),
        ({"idf": "x"}, "idf"),
    ],
)
def test_invalid_parameters(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        BM25Index(**kwargs)


def test_save_load_round_trip_keeps_tokenizer_and_scores(tmp_path: Path) -> None:
    tok = BM25Tokenizer(stopwords=["flow"], stemmer="english", lowercase=True)
    index = BM25Index(tokenizer=tok, k1=1.2, b=0.7, idf="lucene")
    index.add(["a", "b", "c"], ["Heat flows", "flow of heated air", "cold water"])
    index.add(["d"], ["heating water"])
    index.delete(["c"])
    index.save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / "bm25")
    assert loaded.tokenizer == tok
    assert (loaded.k1, loaded.b, loaded.idf) == (1.2, 0.7, "lucene")
    assert loaded.search("heating flow", top_k=5) == index.search("heating flow", top_k=5)
    loaded.add(["e"], ["more heat"])  # still incremental after loading
    assert "e" in loaded
    index.save(tmp_path / "bm25")  # replacing an existing directory
    assert BM25Index.load(tmp_path / "bm25").ids == index.ids


def test_load_rejects_unknown_format_and_never_unpickles(tmp_path: Path) -> None:
    index = BM25Index()
    index.add(["a"], ["cats"])
    index.save(tmp_path / "i")
    header = json.loads((tmp_path / "i" / "header.json").read_text())
    header["version"] = 999
    (tmp_path / "i" / "header.json").write_text(json.dumps(header))
    with pytest.raises(ValueError, match="version"):
        BM25Index.load(tmp_path / "i")
    index.save(tmp_path / "j")
    np.save(tmp_path / "j" / "df.npy", np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError):
        BM25Index.load(tmp_path / "j")
