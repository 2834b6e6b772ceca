"""Every ragdrop stage is a LlamaIndex instrumentation span, nested like the code."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.span_handlers import SimpleSpanHandler

from ragdrop.observability.spans import SPAN_PREFIX
from ragdrop.observability.stages import Stage, stage

pytestmark = pytest.mark.unit


@pytest.fixture()
def spans() -> Iterator[SimpleSpanHandler]:
    """A span handler on the root dispatcher, as LlamaIndex users attach one."""
    root = get_dispatcher()
    handler = SimpleSpanHandler()
    root.add_span_handler(handler)
    try:
        yield handler
    finally:
        root.span_handlers = [h for h in root.span_handlers if h is not handler]


def by_stage(handler: SimpleSpanHandler, name: str) -> list:
    done = handler.completed_spans + handler.dropped_spans
    return [s for s in done if s.id_.startswith(f"{SPAN_PREFIX}{name}-")]


def test_stage_emits_one_completed_span(spans: SimpleSpanHandler) -> None:
    with stage("fusion"):
        pass
    (span,) = by_stage(spans, "fusion")
    assert span in spans.completed_spans
    assert span.duration is not None and span.duration >= 0


def test_nested_stages_are_parent_and_child(spans: SimpleSpanHandler) -> None:
    with stage("retrieve"), stage("bm25"):
        pass
    (outer,) = by_stage(spans, "retrieve")
    (inner,) = by_stage(spans, "bm25")
    assert inner.parent_id == outer.id_


def test_llama_index_spans_inside_a_stage_are_its_children(spans: SimpleSpanHandler) -> None:
    with stage("embed"):
        MockEmbedding(embed_dim=4).get_text_embedding("hello")
    (embed,) = by_stage(spans, "embed")
    children = [s for s in spans.completed_spans if s.parent_id == embed.id_]
    assert children, "LlamaIndex's own embedding span should nest under the stage span"


def test_failed_stage_drops_its_span(spans: SimpleSpanHandler) -> None:
    with pytest.raises(ValueError), stage("rerank"):
        raise ValueError("bad")
    (span,) = by_stage(spans, "rerank")
    assert span in spans.dropped_spans
    assert not spans.open_spans


async def test_async_stages_keep_their_own_parents(spans: SimpleSpanHandler) -> None:
    async def retrieve(name: Stage) -> None:
        with stage(name):
            await asyncio.sleep(0.01)
            with stage(Stage.VECTOR):
                await asyncio.sleep(0.01)

    await asyncio.gather(retrieve(Stage.RETRIEVE), retrieve(Stage.POSTPROCESS))
    parents = {s.parent_id for s in by_stage(spans, "vector")}
    assert parents == {by_stage(spans, "retrieve")[0].id_, by_stage(spans, "postprocess")[0].id_}
