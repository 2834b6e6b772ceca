"""The embedding wrapper as LlamaIndex treats components: deep copies and to_dict/from_dict."""

from __future__ import annotations

import copy
import json

import pytest

from ragdrop.embeddings import SentenceTransformerEmbedding

pytestmark = pytest.mark.integration


def test_a_deep_copy_shares_the_loaded_model_and_embeds_the_same(
    embed_model: SentenceTransformerEmbedding,
) -> None:
    twin = copy.deepcopy(embed_model)
    assert twin is not embed_model and twin.to_dict() == embed_model.to_dict()
    assert twin.tokenizer is embed_model.tokenizer  # no second load
    assert twin.get_text_embedding("hello world") == embed_model.get_text_embedding("hello world")
    twin.embed_batch_size = 3  # the copy's settings are its own
    assert embed_model.embed_batch_size != 3


def test_a_copy_before_loading_loads_on_its_own() -> None:
    model = SentenceTransformerEmbedding(embed_batch_size=8)
    twin = copy.deepcopy(model)
    assert len(twin.get_query_embedding("a question")) == 384


def test_to_json_and_back_keeps_the_settings() -> None:
    model = SentenceTransformerEmbedding(embed_batch_size=16, normalize=False, device="cpu")
    data = json.loads(model.to_json())
    assert data["class_name"] == "RagdropSentenceTransformerEmbedding"
    restored = SentenceTransformerEmbedding.from_dict(data)
    assert restored.to_dict() == model.to_dict()
    assert SentenceTransformerEmbedding.from_json(model.to_json()).to_dict() == model.to_dict()
