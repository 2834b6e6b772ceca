"""Fixtures for the node parser tests: the MiniLM tokenizer alone (no weights) and texts."""

from __future__ import annotations

from typing import Any

import pytest

from ragdrop.embeddings import bundled_minilm_path

MINILM_WINDOW = 256


@pytest.fixture(scope="session")
def minilm_tokenizer() -> Any:
    """all-MiniLM-L6-v2's own fast tokenizer, loaded without the model."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(bundled_minilm_path()))


@pytest.fixture(scope="session")
def python_docs() -> str:
    """About 60 KB of CPython's pydoc topics: prose, code blocks, lists, repeated phrases."""
    from pydoc_data import topics

    text = "\n\n".join(f"{k}\n\n{v}" for k, v in sorted(topics.topics.items()))
    return text[:60_000]
