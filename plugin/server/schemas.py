"""Request and response bodies of the ragdrop HTTP API, validated at the edge."""

from __future__ import annotations

from typing import Any, Literal

from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from ragdrop.core.validation import Int
from ragdrop.server.jobs import JobStatus
from ragdrop.vector_stores.points import check_metadata_keys

MetadataValue = str | int | float | bool | None
FilterValue = str | int | float | bool | list[str] | list[int] | list[float] | None
MAX_QUESTION_CHARS = 2_000
MAX_DOCUMENTS_PER_REQUEST = 1_000
MAX_METADATA_KEYS = 32
MAX_FILTERS = 16
CONVERSATION_ID_PATTERN = r"^[A-Za-z0-9_-]{16,128}$"


class FilterSpec(BaseModel):
    """One metadata condition: ``{"key": "topic", "value": "bm25", "operator": "=="}``."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=128, description="Metadata key.")
    value: FilterValue = Field(description="Value compared with the metadata value.")
    operator: FilterOperator = Field(default=FilterOperator.EQ, description="Comparison.")


class FiltersSpec(BaseModel):
    """Metadata conditions joined by ``condition`` (``and`` / ``or``)."""

    model_config = ConfigDict(extra="forbid")

    filters: list[FilterSpec] = Field(min_length=1, max_length=MAX_FILTERS)
    condition: Literal["and", "or"] = Field(default="and")

    def to_llama_index(self) -> MetadataFilters:
        return MetadataFilters(
            filters=[
                MetadataFilter(key=f.key, value=f.value, operator=f.operator) for f in self.filters
            ],
            condition=FilterCondition(self.condition),
        )


class QueryRequest(BaseModel):
    """``POST /query``."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="The question.")
    top_k: Int | None = Field(default=None, ge=1, description="Passages returned (bounded).")
    filters: FiltersSpec | None = Field(default=None, description="Metadata filters.")

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question must contain non-whitespace characters")
        return value


class ChatRequest(BaseModel):
    """``POST /chat``: the message's length is checked by the route (413 past the limit)."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, description="The user's message.")
    conversation_id: str | None = Field(
        default=None, pattern=CONVERSATION_ID_PATTERN, description="None starts a conversation."
    )
    stream: StrictBool = Field(default=False, description="Answer as Server-Sent Events.")
    top_k: Int | None = Field(default=None, ge=1, description="Passages returned (bounded).")
    filters: FiltersSpec | None = Field(default=None, description="Metadata filters.")

    @field_validator("message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("message must contain non-whitespace characters")
        return value


class DocumentIn(BaseModel):
    """One document to ingest; ``id`` defaults to a hash of its text."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(
        default=None, min_length=1, max_length=256, pattern=r"^[\w.:/@+-]+$",
        description="Stable document id (ref_doc_id).",
    )  # fmt: skip
    text: str = Field(min_length=1, description="Document text.")
    metadata: dict[str, MetadataValue] = Field(default_factory=dict, max_length=MAX_METADATA_KEYS)

    @field_validator("metadata")
    @classmethod
    def _no_reserved_keys(cls, value: dict[str, MetadataValue]) -> dict[str, MetadataValue]:
        check_metadata_keys(value, "document metadata")
        return value


class DocumentsRequest(BaseModel):
    """``POST /documents``."""

    model_config = ConfigDict(extra="forbid")

    documents: list[DocumentIn] = Field(min_length=1, max_length=MAX_DOCUMENTS_PER_REQUEST)

    @field_validator("documents")
    @classmethod
    def _unique_ids(cls, documents: list[DocumentIn]) -> list[DocumentIn]:
        ids = [d.id for d in documents if d.id is not None]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(
                f"document ids must be unique in one request, repeated: {duplicates[:5]}"
            )
        return documents


class JobOut(BaseModel):
    """State of an ingestion job."""

    job_id: str
    status: JobStatus
    documents: int
    processed: int = 0
    report: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    attempts: int = 0
    created_at: float
    updated_at: float
