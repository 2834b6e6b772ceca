"""Fixtures of the server tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def server_corpus(fixture_documents: list[Any]) -> list[dict[str, Any]]:
    """The shared fixture corpus as ``POST /documents`` items."""
    return [
        {"id": doc.id_, "text": doc.text, "metadata": {"topic": doc.metadata["topic"]}}
        for doc in fixture_documents
    ]
