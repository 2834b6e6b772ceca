"""RagdropMetrics: stage latencies, errors, cache events and bounded label values."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest

from ragdrop.core.protocols import WriteEvent
from ragdrop.observability.metrics import OTHER, STAGES, BoundedLabel, RagdropMetrics
from ragdrop.observability.sources import IndexStats
from ragdrop.observability.stages import (
    Stage,
    record_count,
    record_gauge,
    record_stages,
    stage,
)

pytestmark = pytest.mark.unit


def value(metrics: RagdropMetrics, name: str, **labels: str) -> float:
    result = metrics.registry.get_sample_value(name, labels)
    return 0.0 if result is None else result


@pytest.fixture()
def metrics() -> RagdropMetrics:
    return RagdropMetrics(registry=CollectorRegistry())


def test_stages_are_observed_while_attached(metrics: RagdropMetrics) -> None:
    with metrics:
        with stage("embed"):
            pass
        with stage("embed"), stage("bm25"):
            pass
    with stage("embed"):  # detached: not counted
        pass
    assert value(metrics, "ragdrop_stage_seconds_count", stage="embed") == 2
    assert value(metrics, "ragdrop_stage_seconds_count", stage="bm25") == 1
    assert value(metrics, "ragdrop_stage_seconds_sum", stage="embed") >= 0


def test_every_stage_has_its_own_label(metrics: RagdropMetrics) -> None:
    with metrics:
        for member in Stage:
            with stage(member):
                pass
    for member in Stage:
        assert value(metrics, "ragdrop_stage_seconds_count", stage=member.value) == 1, member
    assert value(metrics, "ragdrop_stage_seconds_count", stage=OTHER) == 0
    assert set(STAGES) == {member.value for member in Stage}


def test_a_stage_is_named_by_the_enum_or_its_value() -> None:
    with record_stages() as times, stage("optimize"), stage(Stage.RERANK):
        pass
    assert set(times) == {"optimize", "rerank"}
    assert all(type(name) is str for name in times)


@pytest.mark.parametrize("name", ["made-up", "query", "ingest", "delete", "", "EMBED"])
def test_an_unknown_stage_is_refused_naming_the_allowed_ones(name: str) -> None:
    with pytest.raises(ValueError, match=r"stage must be one of \['chunking', 'embed'"):
        with stage(name):
            pass


def test_unknown_stage_names_from_other_listeners_share_one_series(
    metrics: RagdropMetrics,
) -> None:
    for i in range(50):
        metrics.observe_stage(f"made-up-{i}", 0.001, None)
    assert value(metrics, "ragdrop_stage_seconds_count", stage=OTHER) == 50
    assert "made-up" not in generate_latest(metrics.registry).decode()


def test_errors_are_counted_by_component_and_type_never_message(metrics: RagdropMetrics) -> None:
    with metrics:
        for _ in range(3):
            with pytest.raises(KeyError), stage("vector"):
                raise KeyError("secret-question-text")
    assert value(metrics, "ragdrop_errors_total", component="vector", exception="KeyError") == 3
    assert "secret-question-text" not in generate_latest(metrics.registry).decode()


def test_failed_stage_still_records_its_latency(metrics: RagdropMetrics) -> None:
    with metrics, record_stages() as times:
        with pytest.raises(RuntimeError), stage("rerank"):
            raise RuntimeError("boom")
    assert value(metrics, "ragdrop_stage_seconds_count", stage="rerank") == 1
    assert "rerank" in times


def test_exception_types_are_capped() -> None:
    metrics = RagdropMetrics(registry=CollectorRegistry(), max_error_types=3)
    for i in range(20):
        metrics.record_error("embed", type(f"Error{i}", (Exception,), {}))
    exported = generate_latest(metrics.registry).decode()
    assert exported.count("ragdrop_errors_total{") == 4  # 3 kept + other
    assert value(metrics, "ragdrop_errors_total", component="embed", exception=OTHER) == 17


def test_counts_and_gauges_from_components(metrics: RagdropMetrics) -> None:
    with metrics:
        record_count("cache_hit", label="query")
        record_count("cache_hits", 2, label="query")
        record_count("cache_miss", label="embedding")
        record_count("cache_evictions", 5, label="embedding")
        record_count("cache_rejected", label="embedding")
        record_count("points_upserted", 10)
        record_count("points_deleted", 4)
        record_gauge("bm25_documents", 12)
        record_gauge("bm25_terms", 345)
        record_gauge("bm25_terms", 340)
    assert value(metrics, "ragdrop_cache_events_total", namespace="query", event="hits") == 3
    assert value(metrics, "ragdrop_cache_events_total", namespace="embedding", event="misses") == 1
    assert (
        value(metrics, "ragdrop_cache_events_total", namespace="embedding", event="evictions") == 5
    )
    assert (
        value(metrics, "ragdrop_cache_events_total", namespace="embedding", event="rejected") == 1
    )
    assert value(metrics, "ragdrop_points_upserted_total") == 10
    assert value(metrics, "ragdrop_points_deleted_total") == 4
    assert value(metrics, "ragdrop_bm25_documents") == 12
    assert value(metrics, "ragdrop_bm25_terms") == 340


def test_unknown_cache_event_is_refused(metrics: RagdropMetrics) -> None:
    with pytest.raises(ValueError, match="event must be one of"):
        metrics.record_cache("query", "exploded")


def test_shares_the_cache_counter_with_safe_cache(tmp_path: Path) -> None:
    from ragdrop.cache.safe_cache import SafeCache

    registry = CollectorRegistry()
    metrics = RagdropMetrics(registry=registry)  # registers first ...
    cache = SafeCache(tmp_path / "cache", namespace="query", registry=registry)  # ... then reuses
    try:
        cache.get_bytes("absent")
        cache.set_bytes("k", b"v")
        cache.get_bytes("k")
    finally:
        cache.close()
    metrics.record_cache("query", "hit")
    assert value(metrics, "ragdrop_cache_events_total", namespace="query", event="misses") == 1
    assert value(metrics, "ragdrop_cache_events_total", namespace="query", event="hits") == 2


def test_http_requests_are_labelled_by_template_and_bounded(metrics: RagdropMetrics) -> None:
    for i in range(200):
        metrics.observe_request(f"/unique/{i}", "BREW", 200 + i, 0.01)
    exported = generate_latest(metrics.registry).decode()
    assert exported.count("ragdrop_http_requests_total{") <= 33 * 3  # (32 + other) x 2xx/3xx
    assert 'method="other"' in exported
    assert 'status="3xx"' in exported
    assert 'endpoint="other"' in exported


def test_separate_registries_do_not_collide() -> None:
    first = RagdropMetrics(registry=CollectorRegistry())
    second = RagdropMetrics(registry=CollectorRegistry())
    first.record_error("embed", ValueError())
    assert value(second, "ragdrop_errors_total", component="embed", exception="ValueError") == 0


def test_registry_must_be_a_collector_registry() -> None:
    with pytest.raises(TypeError, match="registry"):
        RagdropMetrics(registry="global")  # type: ignore[arg-type]


def test_series_count_is_stable_for_repeated_labels(metrics: RagdropMetrics) -> None:
    with metrics:
        with stage("embed"):
            pass
        before = metrics.series_count()
        for _ in range(100):
            with stage("embed"):
                pass
    assert metrics.series_count() == before


@given(st.lists(st.text(max_size=20), max_size=200), st.integers(min_value=1, max_value=10))
def test_bounded_label_never_exceeds_its_cap(values: list[str], cap: int) -> None:
    label = BoundedLabel(cap=cap)
    seen = {label(v) for v in values}
    assert len(seen - {OTHER}) <= cap
    first = list(dict.fromkeys(values))[:cap]
    assert all(label(v) == v for v in first)


@given(st.lists(st.text(max_size=10), max_size=50))
def test_fixed_bounded_label_keeps_only_allowed_values(values: list[str]) -> None:
    label = BoundedLabel(("embed", "bm25"))
    assert {label(v) for v in values} <= {"embed", "bm25", OTHER}


def test_vector_store_writes_count_points(metrics: RagdropMetrics) -> None:
    metrics.observe_write(WriteEvent("add", node_ids=["a", "b", "c"]))
    metrics.observe_write(WriteEvent("delete", node_ids=["a", "b"], ref_doc_id="doc"))
    metrics.observe_write(WriteEvent("delete_nodes", node_ids=["c"]))
    metrics.observe_write(WriteEvent("restore"))
    assert value(metrics, "ragdrop_points_upserted_total") == 3
    assert value(metrics, "ragdrop_points_deleted_total") == 3


def test_a_safe_cache_without_registry_reports_to_attached_metrics(
    metrics: RagdropMetrics, tmp_path: Path
) -> None:
    from ragdrop.cache import SafeCache

    cache = SafeCache(tmp_path / "c", namespace="query")
    with metrics:
        assert cache.get_json("absent") is None
        cache.set_json("k", {"v": 1})
        assert cache.get_json("k") == {"v": 1}
    cache.close()
    assert value(metrics, "ragdrop_cache_events_total", namespace="query", event="misses") == 1
    assert value(metrics, "ragdrop_cache_events_total", namespace="query", event="hits") == 1


class FakePipeline:
    """The two things `watch_pipeline` reads, and nothing else."""

    def __init__(self) -> None:
        self.stats = IndexStats()
        self.listeners: list = []

    def index_stats(self) -> IndexStats:
        return self.stats

    def add_write_listener(self, listener) -> None:
        self.listeners.append(listener)


def test_watch_pipeline_reads_index_stats_at_scrape_time(metrics: RagdropMetrics) -> None:
    source = FakePipeline()
    metrics.watch_pipeline(source)
    metrics.watch_pipeline(source)  # idempotent
    assert len(source.listeners) == 1
    assert value(metrics, "ragdrop_bm25_terms") == 0  # nothing built yet
    source.stats = IndexStats(bm25_documents=7, bm25_terms=99)
    assert value(metrics, "ragdrop_bm25_documents") == 7
    assert value(metrics, "ragdrop_bm25_terms") == 99
    source.listeners[0](WriteEvent("add", node_ids=["a", "b"]))
    assert value(metrics, "ragdrop_points_upserted_total") == 2
