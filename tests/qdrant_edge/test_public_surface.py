"""The Edge clients keep qdrant-client's public surface, and never its private one.

`EdgeQdrantClient` implements ``QdrantClient``'s methods itself instead of subclassing it, so a
qdrant-client upgrade that changes a signature must fail here, not in a user's call: every
method we define that qdrant-client also has is compared (parameter names, kinds, defaults,
sync or async). And no attribute qdrant-client keeps private (``_client``, ``_init_options``...)
is set or read by our code.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient, QdrantClient
from qdrant_client.async_client_base import AsyncQdrantBase
from qdrant_client.client_base import QdrantBase
from qdrant_client.http import models

import ragdrop.qdrant_edge
from ragdrop.qdrant_edge import AsyncEdgeQdrantClient, EdgeQdrantClient

pytestmark = pytest.mark.unit

# The surface the docs promise (EdgeQdrantClient's docstring), and the snapshot calls the
# store's backup tries before falling back to its portable export.
DOCUMENTED = """get_collections collection_exists get_collection create_collection
recreate_collection delete_collection upsert upload_points upload_collection query_points
query_batch_points scroll count facet retrieve delete set_payload overwrite_payload
delete_payload clear_payload update_vectors delete_vectors create_payload_index
delete_payload_index info close create_snapshot list_snapshots recover_snapshot""".split()

PAIRS = [(EdgeQdrantClient, QdrantClient, QdrantBase), (AsyncEdgeQdrantClient, AsyncQdrantClient, AsyncQdrantBase)]  # fmt: skip


def _ours(cls: type, base: type) -> dict[str, object]:
    """Public attributes our classes define (between ``cls`` and qdrant-client's ``base``)."""
    defined: dict[str, object] = {}
    for klass in reversed(cls.__mro__[: cls.__mro__.index(base)]):
        defined.update({k: v for k, v in vars(klass).items() if not k.startswith("_")})
    return defined


def _shape(fn: object) -> list[tuple[str, object, object]]:
    signature = inspect.signature(fn)  # type: ignore[arg-type]
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


@pytest.mark.parametrize(("ours", "theirs", "base"), PAIRS, ids=["sync", "async"])
def test_every_shared_method_has_qdrant_clients_signature(
    ours: type, theirs: type, base: type
) -> None:
    defined = _ours(ours, base)
    assert set(DOCUMENTED) <= set(defined)
    shared = sorted(name for name in defined if hasattr(theirs, name))
    mismatches = []
    for name in shared:
        mine, reference = getattr(ours, name), getattr(theirs, name)
        if isinstance(inspect.getattr_static(theirs, name), property):
            assert isinstance(inspect.getattr_static(ours, name), property), name
            continue
        if _shape(mine) != _shape(reference):
            mismatches.append(f"{name}{inspect.signature(mine)} != {inspect.signature(reference)}")
        if inspect.iscoroutinefunction(mine) != inspect.iscoroutinefunction(reference):
            mismatches.append(f"{name}: async differs from {theirs.__name__}")
    assert not mismatches, "qdrant-client's public signatures changed:\n" + "\n".join(mismatches)
    # only Edge's own additions are not part of qdrant-client's surface
    assert set(defined) - set(shared) <= {"backend", "optimize", "flush"}


def test_async_methods_forward_the_sync_parameters_in_order() -> None:
    """The async client passes its arguments on positionally: the lists must be equal."""
    sync_methods = _ours(EdgeQdrantClient, QdrantBase)
    for name in _ours(AsyncEdgeQdrantClient, AsyncQdrantBase):
        if callable(sync_methods.get(name)):
            assert _shape(getattr(AsyncEdgeQdrantClient, name)) == _shape(
                getattr(EdgeQdrantClient, name)
            ), name


def _private_names() -> set[str]:
    """What qdrant-client's clients keep private: instance attributes and class members."""
    names = set()
    for cls in (QdrantClient, AsyncQdrantClient):
        client = cls(":memory:")
        names |= {n for n in vars(client) if n.startswith("_")}
        names |= {n for n in dir(cls) if n.startswith("_") and not n.startswith("__")}
    return names


def test_no_private_member_of_qdrant_client_is_set_or_read(tmp_path: Path) -> None:
    private = _private_names()
    assert {"_client", "_init_options", "_inference_inspector"} <= private
    sync = EdgeQdrantClient(path=tmp_path / "edge")
    aclient = AsyncEdgeQdrantClient(sync)
    try:
        assert not private & set(vars(sync)), "instance attributes shadow qdrant-client's"
        assert not private & set(vars(aclient))
        for cls, base in ((EdgeQdrantClient, QdrantBase), (AsyncEdgeQdrantClient, AsyncQdrantBase)):
            for klass in cls.__mro__[: cls.__mro__.index(base)]:
                assert not private & set(vars(klass)), klass
        assert isinstance(sync, QdrantBase) and not isinstance(sync, QdrantClient)
        assert isinstance(aclient, AsyncQdrantBase) and not isinstance(aclient, AsyncQdrantClient)
    finally:
        sync.close()
    # and no module of the package names one, on any object
    package = Path(ragdrop.qdrant_edge.__file__).parent
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute):
                assert node.attr not in private, f"{path.name}:{node.lineno} uses .{node.attr}"
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert node.value not in private, f"{path.name}:{node.lineno} names {node.value}"


def test_init_options_and_unknown_arguments(tmp_path: Path) -> None:
    client = EdgeQdrantClient(path=tmp_path / "edge")
    try:
        assert client.init_options == {"edge_path": str(tmp_path / "edge"), "auto_optimize": True}
        assert AsyncEdgeQdrantClient(client).init_options == client.init_options
        with pytest.raises(TypeError, match="Unknown arguments"):
            client.count("c", exact=True, consistency_level=1)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="url=/location="):
            EdgeQdrantClient(path=tmp_path / "x", url="http://localhost")  # type: ignore[arg-type]
        with pytest.raises(NotImplementedError, match="snapshot"):
            asyncio.run(AsyncEdgeQdrantClient(client).list_snapshots("c"))
        with pytest.raises(NotImplementedError):  # the rest of QdrantBase: not silently ignored
            client.update_collection_aliases([])
        with pytest.raises(NotImplementedError, match="inference"):
            client.query_points("c", query=models.Document(text="x", model="m"))
    finally:
        client.close()
