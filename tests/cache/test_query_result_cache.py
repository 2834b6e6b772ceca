"""QueryResultCache: epochs are shared by processes' directories and never come back."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragdrop.cache import QueryResultCache, SafeCache

pytestmark = pytest.mark.unit


def test_put_only_if_epoch_unchanged(tmp_path: Path) -> None:
    qc = QueryResultCache(SafeCache(tmp_path), ttl=60)
    epoch = qc.epoch("s", "c")
    key = qc.key(epoch, q=1)
    assert qc.put(key, {"ids": [1]}, scope="s", collection="c", epoch=epoch)
    assert qc.get(key) == {"ids": [1]}
    stale_epoch = qc.epoch("s", "c")
    qc.bump("s", "c")
    assert not qc.put(
        qc.key(stale_epoch, q=2), {"ids": [2]}, scope="s", collection="c", epoch=stale_epoch
    )
    assert qc.key(qc.epoch("s", "c"), q=1) != key


def test_scopes_and_collections_are_independent(tmp_path: Path) -> None:
    qc = QueryResultCache(SafeCache(tmp_path), ttl=60)
    a = qc.epoch("s", "a")
    qc.bump("s", "b")
    qc.bump("t", "a")
    assert qc.epoch("s", "a") == a


def test_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ttl"):
        QueryResultCache(SafeCache(tmp_path), ttl=0)
    with pytest.raises(TypeError):
        QueryResultCache(object(), ttl=1)  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(["bump", "evict", "read"]), max_size=12))
def test_epochs_never_repeat(tmp_path_factory: pytest.TempPathFactory, ops: list[str]) -> None:
    """Whatever happens to the epoch entry (bumps, eviction), no epoch value comes back."""
    qc = QueryResultCache(SafeCache(tmp_path_factory.mktemp("e")), ttl=60)
    seen = [qc.epoch("s", "c")]
    for op in ops:
        if op == "bump":
            qc.bump("s", "c")
        elif op == "evict":
            qc.cache.clear()
        current = qc.epoch("s", "c")
        if current != seen[-1]:
            assert current not in seen
            seen.append(current)
