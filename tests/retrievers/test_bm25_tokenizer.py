from __future__ import annotations

import pytest

from ragdrop.retrievers.bm25.tokenizer import BM25Tokenizer

pytestmark = pytest.mark.unit


def test_default_lowercases_drops_stopwords_and_stems() -> None:
    tok = BM25Tokenizer()
    assert tok("The Runners were RUNNING to Zürich") == ["runner", "run", "zürich"]
    assert BM25Tokenizer(stopwords="en")("The Runners were RUNNING") == ["runner", "were", "run"]


def test_unicode_word_split_and_single_letters_dropped() -> None:
    tok = BM25Tokenizer(stopwords=None, stemmer=None)
    assert tok("naïve café, a b c x-ray 東京都") == ["naïve", "café", "ray", "東京都"]


def test_en_plus_removes_question_words() -> None:
    assert BM25Tokenizer(stopwords="en_plus", stemmer=None)("what is the flow") == ["flow"]


def test_explicit_stopwords_case_insensitive_when_lowercasing() -> None:
    tok = BM25Tokenizer(stopwords=["Flow"], stemmer=None)
    assert tok("flow FLOW heat") == ["heat"]


def test_config_round_trip_keeps_every_setting() -> None:
    tok = BM25Tokenizer(
        lowercase=False, token_pattern=r"\w+", stopwords=["x", "y"], stemmer="german"
    )
    again = BM25Tokenizer.from_config(tok.to_config())
    assert again == tok
    assert again("Häuser x") == tok("Häuser x")


def test_batch_equals_single() -> None:
    tok = BM25Tokenizer()
    texts = ["Running dogs", "", "the the the", "Cats running"]
    assert tok.tokenize_many(texts) == [tok(t) for t in texts]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"stopwords": "klingon"}, "stopwords='klingon'"),
        ({"stemmer": "klingon"}, "stemmer='klingon'"),
        ({"token_pattern": "("}, "token_pattern"),
    ],
)
def test_invalid_settings_name_the_argument(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(")):
        BM25Tokenizer(**kwargs)


def test_unknown_config_version_rejected() -> None:
    config = BM25Tokenizer().to_config()
    config["version"] = 99
    with pytest.raises(ValueError, match="version"):
        BM25Tokenizer.from_config(config)


def test_non_string_text_rejected() -> None:
    with pytest.raises(TypeError, match="str"):
        BM25Tokenizer()(b"bytes")  # type: ignore[arg-type]
