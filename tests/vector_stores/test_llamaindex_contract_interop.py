"""LlamaIndex's contract across stores: custom node ids, ``text_key`` on legacy payloads,
a store over a collection it did not create, and each store reading the other's writes.

Harness and matrix: ``llamaindex_contract`` (``ours`` and ``llama`` on ``:memory:``,
an on-disk path and Edge). Where LlamaIndex's store fails, the case is a strict xfail on
its side only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import llamaindex_contract as harness
import pytest
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters
from llamaindex_contract import (
    IMPLS,
    Contract,
    Engine,
    build_store,
    by_similarity,
    contract_nodes,
    dense,
    llama_fails,
)
from qdrant_client.http import models as qm

pytestmark = pytest.mark.integration

Q = [0.9, 0.35, 0.2]

# The harness's matrix; ``io`` is the sync path unless a case asks for both.
impl, backend = harness.impl, harness.backend


@pytest.fixture(scope="module")
def io() -> str:
    return "sync"


@pytest.fixture(params=harness.IOS)
def both_io(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture()
async def engine(backend: str, io: str, tmp_path: Path) -> AsyncIterator[Engine]:
    """A fresh engine per case: these cases create collections by hand or share one."""
    opened = Engine(backend, tmp_path, io)
    yield opened
    await opened.close()


@pytest.fixture()
async def any_engine(backend: str, both_io: str, tmp_path: Path) -> AsyncIterator[Engine]:
    """`engine` on the sync path and on the async one (an async client only, off Edge)."""
    opened = Engine(backend, tmp_path, both_io)
    yield opened
    await opened.close()


def renamed(ids: list[str]) -> list[TextNode]:
    """`contract_nodes` under other node ids."""
    return [n.model_copy(update={"id_": new}) for n, new in zip(contract_nodes(), ids, strict=True)]


# -- custom node ids ------------------------------------------------------------------------------
UPPER_UUIDS = [f"AF3BE6C4-5F43-4D74-B075-6B0E07900DE{i}" for i in range(6)]
PLAIN_IDS = [f"doc-{i // 2}-chunk-{i % 2}" for i in range(6)]


@pytest.mark.parametrize("kind", ["upper-uuid", "not-uuid"])
async def test_custom_node_ids_round_trip(
    request: pytest.FixtureRequest, impl: str, engine: Engine, kind: str
) -> None:
    """Node ids come back exactly as given (in ``nodes`` and ``ids``), and ``get_nodes`` and
    ``delete_nodes`` take them, whatever their form."""
    if kind == "upper-uuid":
        llama_fails(request, impl, "result ids are Qdrant's lower-cased point ids, not node ids")
    else:
        llama_fails(request, impl, "node ids are point ids, so a non-UUID id is refused")
    given = UPPER_UUIDS if kind == "upper-uuid" else PLAIN_IDS
    store = Contract(build_store(impl, engine), engine.io)
    assert await store.add(renamed(given)) == given
    result = await store.query(dense(Q, top_k=3))
    want = [given[int(i[-1])] for i in by_similarity(Q)[:3]]
    assert [n.node_id for n in result.nodes or []] == want
    assert list(result.ids or []) == want
    assert [n.node_id for n in await store.get_nodes(node_ids=[given[4]])] == [given[4]]
    await store.delete_nodes(node_ids=[given[0], given[5]])
    assert sorted(n.node_id for n in await store.get_nodes()) == sorted(given[1:5])


# -- legacy payloads and text_key ---------------------------------------------------------------
LEGACY_ID = "11111111-1111-1111-1111-111111111111"


async def _legacy_collection(engine: Engine, key: str) -> None:
    """A collection another tool wrote: named dense vector, text under ``key``, no node JSON."""
    params = {
        "collection_name": "legacy",
        "vectors_config": {"text-dense": qm.VectorParams(size=2, distance=qm.Distance.COSINE)},
    }
    point = qm.PointStruct(
        id=LEGACY_ID, vector={"text-dense": [1.0, 0.0]}, payload={key: "hello", "lang": "en"}
    )
    if engine.client is not None:
        engine.client.create_collection(**params)
        engine.client.upsert(collection_name="legacy", points=[point])
    else:
        await engine.aclient.create_collection(**params)
        await engine.aclient.upsert(collection_name="legacy", points=[point])


@pytest.mark.parametrize("text_key", ["text", "body"])
async def test_text_key_reads_legacy_payloads(
    request: pytest.FixtureRequest, impl: str, any_engine: Engine, text_key: str
) -> None:
    """A store over an existing collection (also with an async client only) reads the text
    of payloads without LlamaIndex's node JSON from ``text_key``, in queries and
    ``get_nodes``."""
    engine = any_engine
    await _legacy_collection(engine, text_key)
    store = Contract(build_store(impl, engine, collection="legacy", text_key=text_key), engine.io)
    got = await store.get_nodes(node_ids=[LEGACY_ID])
    assert [(n.node_id, n.get_content()) for n in got] == [(LEGACY_ID, "hello")]
    result = await store.query(dense([1.0, 0.0], top_k=1))
    node = (result.nodes or [])[0]
    # LlamaIndex's legacy reader leaves a text_key other than "text" in the metadata too.
    assert (node.node_id, node.get_content(), node.metadata["lang"]) == (LEGACY_ID, "hello", "en")


# -- each store reads the other's writes ------------------------------------------------------------
@pytest.mark.parametrize("hybrid", [False, True], ids=["dense", "hybrid"])
@pytest.mark.parametrize("writer", IMPLS)
async def test_reads_the_other_stores_writes(
    impl: str, engine: Engine, writer: str, hybrid: bool
) -> None:
    """``writer`` fills the collection; ``impl`` (the other store, or the same) over the same
    client ranks, filters, gets and deletes its nodes."""
    await Contract(build_store(writer, engine, collection="shared", hybrid=hybrid), engine.io).add(
        contract_nodes()
    )
    store = Contract(build_store(impl, engine, collection="shared", hybrid=hybrid), engine.io)
    assert await store.ids(dense(Q, top_k=4)) == by_similarity(Q)[:4]
    flt = MetadataFilters(filters=[MetadataFilter(key="rank", value="c")])
    got = await store.get_nodes(filters=flt)
    by_id = {n.node_id: n for n in contract_nodes()}
    assert sorted(n.node_id for n in got) == sorted(
        i for i, n in by_id.items() if n.metadata["rank"] == "c"
    )
    for node in got:
        want = by_id[node.node_id]
        assert (node.get_content(), node.metadata, node.ref_doc_id) == (
            want.get_content(), want.metadata, want.ref_doc_id,
        )  # fmt: skip
    await store.delete("doc-a")
    assert len(await store.get_nodes()) == 4
    more = TextNode(
        id_="00000000-0000-4000-8000-000000000077",
        text="a new zebra",
        embedding=[0.0, 0.1, 1.0],
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id="doc-z")},
    )
    await store.add([more])
    assert (await store.ids(dense([0.0, 0.1, 1.0], top_k=1))) == [more.node_id]
