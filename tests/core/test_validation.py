"""Validation is one way everywhere: bools are never numbers, messages name the argument."""

from __future__ import annotations

import math

import pytest
from pydantic import BaseModel, Field, ValidationError

from ragdrop.core import validation as check
from ragdrop.core.validation import Float, Int
from ragdrop.postprocessors import CrossEncoderReranker
from ragdrop.retrievers import BM25Retriever, HybridRetriever, reciprocal_rank_fusion
from ragdrop.retrievers.dense import ArrayVectorRetriever
from ragdrop.vector_stores import CollectionSettings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("bad", [True, False, 0, -3, 1.5, "2", None])
def test_positive_int_refuses_and_names_the_argument(bad: object) -> None:
    with pytest.raises(ValueError, match=r"^top_k must be a positive int, got "):
        check.positive_int("top_k", bad)


@pytest.mark.parametrize("bad", [True, math.nan, math.inf, -1.0, "1"])
def test_finite_number_refuses(bad: object) -> None:
    with pytest.raises(ValueError, match="rrf_k must be a finite number >= 0"):
        check.finite_number("rrf_k", bad, minimum=0)


def test_instance_and_choice_messages() -> None:
    with pytest.raises(TypeError, match="filters must be int or None, got str"):
        check.instance("filters", "x", int, allow_none=True)
    assert check.instance("filters", None, int, allow_none=True) is None
    with pytest.raises(ValueError, match=r"mode must be one of \['a', 'b'\], got 'c'"):
        check.choice("mode", "c", ("a", "b"))


class _Model(BaseModel):
    n: Int = Field(default=1, gt=0)
    x: Float | None = None


def test_pydantic_fields_refuse_bools_but_parse_numbers() -> None:
    assert _Model(n="3", x="0.5").n == 3  # type: ignore[arg-type]
    for bad in ({"n": True}, {"x": False}):
        with pytest.raises(ValidationError, match="not a bool"):
            _Model(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "make",
    [
        lambda: BM25Retriever(similarity_top_k=True),
        lambda: BM25Retriever().search("x", top_k=True),
        lambda: ArrayVectorRetriever(similarity_top_k=True),
        lambda: HybridRetriever(bm25=BM25Retriever(), weights=(0, 1), similarity_top_k=True),
        lambda: reciprocal_rank_fusion([], top_k=True),
        lambda: CrossEncoderReranker(model="x", top_n=True),
        lambda: CollectionSettings(hnsw_m=True),
    ],
)
def test_every_component_refuses_a_bool_count(make: object) -> None:
    with pytest.raises((ValueError, ValidationError), match="top_k|top_n|not a bool"):
        make()  # type: ignore[operator]
