"""Size units for chunking: the embedding model's tokens, characters, or a tiktoken encoding.

A counter measures many texts in one call (fast tokenizers batch in Rust) and can cut one
over-long word at token boundaries. ``additive`` says whether the count of two spans joined
by whitespace is the sum of their counts; when it is not, chunkers recount their chunks.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import llama_index.core
import tiktoken


class SizeUnit(StrEnum):
    """What ``chunk_size`` counts."""

    TOKENS = "tokens"  # the embedding model's own tokenizer
    CHARACTERS = "characters"
    TIKTOKEN = "tiktoken"


class TokenCounter(Protocol):
    """Counts texts in one unit."""

    additive: bool

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """The size of each text."""
        ...

    def cut_points(self, text: str, budget: int) -> list[int]:
        """Character offsets that cut ``text`` into pieces of at most ``budget`` units."""
        ...


class CharacterCounter:
    """Counts characters; whitespace between spans counts too, so not additive."""

    additive = False

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return [len(t) for t in texts]

    def cut_points(self, text: str, budget: int) -> list[int]:
        return list(range(budget, len(text), budget))


def _cut_points_from_offsets(offsets: Sequence[tuple[int, int]], budget: int) -> list[int]:
    return [offsets[i][0] for i in range(budget, len(offsets), budget) if offsets[i][0] > 0]


class HuggingFaceTokenCounter:
    """Counts tokens of a Hugging Face tokenizer, without special tokens.

    Uses a private copy of the fast (Rust) tokenizer with truncation and padding off, so a
    model sharing the tokenizer cannot change the counts and counting never blocks it.

    Args:
        tokenizer: a ``transformers`` tokenizer (fast or slow).
    """

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        backend = getattr(tokenizer, "backend_tokenizer", None)
        self._backend = copy.deepcopy(backend) if backend is not None else None
        if self._backend is not None:
            self._backend.no_truncation()
            self._backend.no_padding()
        self._lock = threading.Lock()
        # WordPiece and whitespace pre-tokenizers never let a token cross whitespace.
        pre = type(getattr(self._backend, "pre_tokenizer", None)).__name__
        self.additive = pre in {"BertPreTokenizer", "Whitespace", "WhitespaceSplit"}

    @property
    def special_tokens(self) -> int:
        """Tokens the model adds around a single text ([CLS] and [SEP] for BERT)."""
        counter = getattr(self._tokenizer, "num_special_tokens_to_add", None)
        return int(counter(pair=False)) if counter is not None else 0

    def count_many(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        if self._backend is not None:
            with self._lock:
                encodings = self._backend.encode_batch_fast(list(texts), add_special_tokens=False)
            return [len(e.ids) for e in encodings]
        ids = self._tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        return [len(i) for i in ids]

    def cut_points(self, text: str, budget: int) -> list[int]:
        if self._backend is not None:
            with self._lock:
                offsets = self._backend.encode(text, add_special_tokens=False).offsets
        else:
            offsets = self._tokenizer(
                text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
            )["offset_mapping"]
        return _cut_points_from_offsets(offsets, budget)


def _get_encoding_offline_first(encoding_name: str) -> Any:
    # LlamaIndex ships cl100k_base and gpt2 files; use them like LlamaIndex does, so that
    # no download is needed (the variable is restored at once, as LlamaIndex does).
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        return tiktoken.get_encoding(encoding_name)
    bundled = Path(llama_index.core.__file__).parent / "_static" / "tiktoken_cache"
    os.environ["TIKTOKEN_CACHE_DIR"] = str(bundled)
    try:
        return tiktoken.get_encoding(encoding_name)
    finally:
        os.environ.pop("TIKTOKEN_CACHE_DIR", None)


class TiktokenCounter:
    """Counts tokens of a tiktoken encoding (e.g. ``cl100k_base``); BPE merges whitespace."""

    additive = False

    def __init__(self, encoding_name: str) -> None:
        try:
            self._encoding = _get_encoding_offline_first(encoding_name)
        except ValueError as exc:
            raise ValueError(
                f"tiktoken_encoding={encoding_name!r} is unknown; allowed: "
                f"{sorted(tiktoken.list_encoding_names())}"
            ) from exc
        except OSError as exc:  # requests' errors are OSErrors
            raise ValueError(
                f"tiktoken_encoding={encoding_name!r} is not cached and cannot be downloaded; "
                "set TIKTOKEN_CACHE_DIR to a directory that holds it, or use "
                "size_unit='tokens'"
            ) from exc

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return [len(t) for t in self._encoding.encode_ordinary_batch(list(texts))]

    def cut_points(self, text: str, budget: int) -> list[int]:
        tokens = self._encoding.encode_ordinary(text)
        _, starts = self._encoding.decode_with_offsets(tokens)
        offsets = [(s, s) for s in starts]
        return _cut_points_from_offsets(offsets, budget)
