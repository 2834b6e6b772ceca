"""Load a BEIR-format dataset: corpus.jsonl, queries.jsonl and qrels/<split>.tsv."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class BeirDocument:
    """One corpus entry; ``full_text`` is what retrievers index (title, then body)."""

    doc_id: str
    title: str
    text: str

    @property
    def full_text(self) -> str:
        return f"{self.title} {self.text}".strip() if self.title else self.text


@dataclass
class BeirDataset:
    """A corpus, the judged queries and their relevance grades.

    Args:
        name: dataset name (the directory name by default).
        corpus: documents by id, in file order.
        queries: query text by id, judged queries only, in file order.
        qrels: ``{query_id: {doc_id: grade}}``; grade > 0 is relevant, 0 judged non-relevant.
    """

    name: str
    corpus: dict[str, BeirDocument]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    path: Path | None = None
    skipped_queries: int = field(default=0)

    def corpus_sha256(self) -> str:
        """Content hash of the corpus (ids, titles and texts in order)."""
        digest = hashlib.sha256()
        for doc in self.corpus.values():
            digest.update(json.dumps([doc.doc_id, doc.title, doc.text]).encode("utf-8"))
            digest.update(b"\n")
        return digest.hexdigest()

    def head(self, n: int) -> BeirDataset:
        """The same corpus with only the first ``n`` judged queries (for quick runs)."""
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ValueError(f"n must be a positive int, got {n!r}")
        ids = list(self.queries)[:n]
        return BeirDataset(
            name=self.name,
            corpus=self.corpus,
            queries={qid: self.queries[qid] for qid in ids},
            qrels={qid: self.qrels[qid] for qid in ids},
            path=self.path,
            skipped_queries=self.skipped_queries,
        )


def _read_jsonl(path: Path) -> Iterator[dict[str, object]]:
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from exc
            if not isinstance(record, dict) or "_id" not in record:
                raise ValueError(f"{path}:{line_no}: expected an object with an '_id' key")
            yield record


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Read a BEIR qrels TSV (``query-id corpus-id score`` with a header line)."""
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t")
        for line_no, row in enumerate(rows, start=1):
            if not row or (line_no == 1 and row[0] == "query-id"):
                continue
            if len(row) < 3:
                raise ValueError(f"{path}:{line_no}: expected 3 tab-separated columns, got {row!r}")
            try:
                grade = int(float(row[2]))
            except ValueError as exc:
                raise ValueError(f"{path}:{line_no}: score {row[2]!r} is not a number") from exc
            qrels.setdefault(row[0], {})[row[1]] = grade
    return qrels


def load_beir(path: str | Path, split: str = "test", name: str | None = None) -> BeirDataset:
    """Load a BEIR dataset directory, keeping only queries with at least one relevant doc.

    Args:
        path: directory holding ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``.
        split: qrels file name without ``.tsv``.
        name: dataset name; defaults to the directory name.

    Example:
        >>> ds = load_beir("/data/scifact")  # doctest: +SKIP
        >>> len(ds.queries), len(ds.corpus)  # doctest: +SKIP
        (300, 5183)
    """
    root = Path(path).expanduser()
    required = [root / "corpus.jsonl", root / "queries.jsonl", root / "qrels" / f"{split}.tsv"]
    missing = [str(p) for p in required if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"path {str(root)!r} is not a BEIR dataset: missing {', '.join(missing)}. "
            "Expected corpus.jsonl, queries.jsonl and qrels/<split>.tsv "
            "(BEIR datasets: https://github.com/beir-cellar/beir)."
        )
    corpus: dict[str, BeirDocument] = {}
    for record in _read_jsonl(required[0]):
        doc_id = str(record["_id"])
        corpus[doc_id] = BeirDocument(
            doc_id=doc_id,
            title=str(record.get("title") or "").strip(),
            text=str(record.get("text") or "").strip(),
        )
    all_queries = {str(r["_id"]): str(r.get("text") or "") for r in _read_jsonl(required[1])}
    qrels = load_qrels(required[2])

    queries: dict[str, str] = {}
    judged: dict[str, dict[str, int]] = {}
    for qid, text in all_queries.items():
        grades = qrels.get(qid)
        if grades and any(g > 0 for g in grades.values()) and text.strip():
            queries[qid] = text
            judged[qid] = grades
    return BeirDataset(
        name=name or root.resolve().name,
        corpus=corpus,
        queries=queries,
        qrels=judged,
        path=root,
        skipped_queries=len(all_queries) - len(queries),
    )
