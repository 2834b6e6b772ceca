"""PipelineConfig: the renamed ``candidates`` setting and the choices shared with retrievers."""

from __future__ import annotations

import warnings
from typing import get_args

import pytest

from ragdrop.pipeline import PipelineConfig
from ragdrop.pipeline.config import FusionMode
from ragdrop.retrievers.fusion import FUSION_MODES

pytestmark = pytest.mark.unit


def test_defaults_are_the_depths_the_pipeline_always_used() -> None:
    config = PipelineConfig()
    assert (config.retriever_candidates, config.fused_candidates) == (100, 30)


def test_old_candidates_name_sets_the_fused_depth_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match="candidates.*fused_candidates"):
        config = PipelineConfig(candidates=12)  # type: ignore[call-arg]
    assert (config.fused_candidates, config.retriever_candidates) == (12, 100)
    assert "candidates" not in config.model_dump()


def test_old_and_new_name_together_are_refused() -> None:
    with pytest.raises(ValueError, match="give only fused_candidates"):
        PipelineConfig(candidates=12, fused_candidates=20)  # type: ignore[call-arg]


def test_new_names_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PipelineConfig(fused_candidates=20, retriever_candidates=50)


@pytest.mark.parametrize("name", ["retriever_candidates", "fused_candidates"])
@pytest.mark.parametrize("value", [0, -1, 1001])
def test_depths_are_validated(name: str, value: int) -> None:
    with pytest.raises(ValueError, match=name):
        PipelineConfig(**{name: value})


def test_fusion_choices_come_from_the_retrievers() -> None:
    assert get_args(FusionMode) == FUSION_MODES == ("client", "qdrant")
