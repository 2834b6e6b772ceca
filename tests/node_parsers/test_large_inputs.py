"""A 10 MB document: linear time, exact offsets, within budget (slow)."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core import Document

from ragdrop.node_parsers import FixedSizeNodeParser

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_ten_megabyte_document(minilm_tokenizer: Any, python_docs: str) -> None:
    repeats = 10_000_000 // len(python_docs) + 1
    text = ("\n\n".join([python_docs] * repeats))[:10_000_000] + "\x00 end."
    parser = FixedSizeNodeParser(tokenizer=minilm_tokenizer, chunk_size=254, chunk_overlap=16)
    nodes = parser.get_nodes_from_documents([Document(text=text, id_="big")])
    assert parser.last_stats.sanitized_characters == 1
    assert nodes[-1].end_char_idx == len(text)
    # The same passage repeats about 170 times: every copy keeps its own offsets.
    starts = [n.start_char_idx for n in nodes]
    assert starts == sorted(set(starts))
    sample = nodes[:: max(1, len(nodes) // 400)]
    texts = [n.text for n in sample]
    lengths = [len(ids) for ids in minilm_tokenizer(texts, add_special_tokens=False)["input_ids"]]
    assert max(lengths) <= 254
    for node in sample:
        assert text[node.start_char_idx : node.end_char_idx] == node.text
