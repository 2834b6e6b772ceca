"""Configurable text → terms tokenizer, identical at index and query time and persisted with the index."""

from __future__ import annotations

import re
import threading
from typing import Any, Self

import Stemmer
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from ragdrop.core.copying import deep_copy_component
from ragdrop.retrievers.bm25.stopwords import STOPWORD_LISTS

TOKENIZER_CONFIG_VERSION = 1


class BM25Tokenizer(BaseModel):
    """Lowercase, Unicode word split, stopword removal and optional Snowball stemming.

    Args:
        lowercase: lowercase the text before splitting.
        token_pattern: regular expression whose matches are the tokens (Unicode aware).
        stopwords: a built-in list name (``"en_plus"``: NLTK's English list, the default;
            ``"en"``: Lucene's), an explicit list, or None.
        stemmer: a Snowball language for PyStemmer (e.g. ``"english"``) or None.

    Example:
        >>> BM25Tokenizer(stemmer="english")("The runners were running")
        ['runner', 'run']
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    lowercase: bool = Field(default=True, description="Lowercase before splitting.")
    token_pattern: str = Field(
        default=r"(?u)\b\w\w+\b", description="Regex whose matches are the tokens."
    )
    # "en_plus" (NLTK's list) beat Lucene's "en" on scifact, cranfield and cisi alike
    # (benchmarks/retrieval_quality.py): questions are full of "what", "how", "which".
    stopwords: str | tuple[str, ...] | None = Field(
        default="en_plus", description="Built-in list name, explicit words, or None."
    )
    stemmer: str | None = Field(
        default="english", description="Snowball language for PyStemmer, or None."
    )

    _pattern: Any = PrivateAttr(default=None)
    _stop: frozenset[str] = PrivateAttr(default_factory=frozenset)
    _word_cache: dict[str, str] = PrivateAttr(default_factory=dict)
    _stemmer: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @field_validator("token_pattern")
    @classmethod
    def _check_pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"token_pattern {value!r} is not a valid regex: {exc}") from exc
        return value

    @field_validator("stopwords", mode="before")
    @classmethod
    def _check_stopwords(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in STOPWORD_LISTS:
            raise ValueError(
                f"stopwords={value!r} is not a built-in list; use one of "
                f"{sorted(STOPWORD_LISTS)}, a list of words, or None"
            )
        if isinstance(value, list | set | frozenset):
            return tuple(sorted(value))
        return value

    @field_validator("stemmer")
    @classmethod
    def _check_stemmer(cls, value: str | None) -> str | None:
        if value is not None:
            if value not in Stemmer.algorithms():
                raise ValueError(
                    f"stemmer={value!r} is not a Snowball language; use one of "
                    f"{sorted(Stemmer.algorithms())} or None"
                )
        return value

    def model_post_init(self, __context: Any) -> None:
        self._pattern = re.compile(self.token_pattern)
        if isinstance(self.stopwords, str):
            words: frozenset[str] = STOPWORD_LISTS[self.stopwords]
        else:
            words = frozenset(self.stopwords or ())
        # Stopwords are matched after lowercasing, so compare in the same case.
        self._stop = frozenset(w.lower() for w in words) if self.lowercase else words

    def __deepcopy__(self, memo: dict[int, object] | None = None) -> Self:
        # PyStemmer objects are not thread-safe and cannot be copied: a copy makes its own.
        return deep_copy_component(
            self, memo, share=("_pattern", "_stop"), fresh=("_lock", "_stemmer")
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BM25Tokenizer) and self.model_dump() == other.model_dump()

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, str(v)) for k, v in self.model_dump().items())))

    def _learn(self, words: set[str]) -> None:
        """Add the final term ("" = dropped) of each new word to the word cache."""
        stop = self._stop
        kept = [w for w in words if w not in stop]
        terms = kept
        if self.stemmer is not None and kept:
            # PyStemmer objects are not thread-safe.
            with self._lock:
                if self._stemmer is None:
                    self._stemmer = Stemmer.Stemmer(self.stemmer)
                terms = self._stemmer.stemWords(kept)
        cache = self._word_cache
        if len(cache) > 2_000_000:
            cache.clear()
        cache.update(dict.fromkeys(words, ""))
        cache.update(zip(kept, terms, strict=True))

    def __call__(self, text: str) -> list[str]:
        """The terms of ``text``, in order, duplicates kept."""
        return self.tokenize_many([text])[0]

    def tokenize_many(self, texts: list[str]) -> list[list[str]]:
        """Terms of each text; each distinct word is stemmed once and then cached."""
        findall = self._pattern.findall
        lowercase = self.lowercase
        words_per_text: list[list[str]] = []
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"text must be str, got {type(text).__name__}")
            words_per_text.append(findall(text.lower() if lowercase else text))
        cache = self._word_cache
        new: set[str] = set()
        for words in words_per_text:
            new.update(words)
        # Not set.difference_update(cache): that walks the whole (large) cache.
        new = {w for w in new if w not in cache}
        if new:
            self._learn(new)
            cache = self._word_cache
        lookup = cache.__getitem__
        return [[t for t in map(lookup, words) if t] for words in words_per_text]

    def to_config(self) -> dict[str, Any]:
        """JSON-safe configuration, stored next to the index."""
        data = self.model_dump()
        if isinstance(data["stopwords"], tuple):
            data["stopwords"] = list(data["stopwords"])
        return {"version": TOKENIZER_CONFIG_VERSION, **data}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BM25Tokenizer:
        """Rebuild a tokenizer from `to_config` output."""
        data = dict(config)
        version = data.pop("version", None)
        if version != TOKENIZER_CONFIG_VERSION:
            raise ValueError(
                f"tokenizer config version {version!r} is not supported "
                f"(this ragdrop reads version {TOKENIZER_CONFIG_VERSION})"
            )
        if isinstance(data.get("stopwords"), list):
            data["stopwords"] = tuple(data["stopwords"])
        return cls(**data)
