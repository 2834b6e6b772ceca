"""Document sources for the pipeline: CPython's bundled docs and the user's own files."""

from __future__ import annotations

from pathlib import Path
from pydoc_data.topics import topics

from llama_index.core import Document

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".rst")


class DocumentLoadError(ValueError):
    """Documents could not be loaded; the message says which file and why."""


def load_pydoc_topics() -> list[Document]:
    """The documentation topics that ship with CPython (``pydoc_data.topics``), one per topic.

    Example:
        >>> docs = load_pydoc_topics()
        >>> docs[0].metadata["source"]
        'pydoc'
    """
    return [
        Document(
            id_=f"pydoc:{name}",
            text=text,
            metadata={"source": "pydoc", "topic": name},
            excluded_embed_metadata_keys=["source"],
            excluded_llm_metadata_keys=["source"],
        )
        for name, text in sorted(topics.items())
        if text.strip()
    ]


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise DocumentLoadError(f"{path}: binary file (contains NUL bytes); pass text files only")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentLoadError(
            f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); convert it to UTF-8"
        ) from None


def load_directory(path: str | Path, suffixes: tuple[str, ...] = TEXT_SUFFIXES) -> list[Document]:
    """Text and markdown files under ``path`` (a file or a folder, searched recursively).

    Document ids are paths relative to ``path``, so re-ingesting the same folder updates in
    place. Raises `DocumentLoadError` for a missing path, a folder with no such files, or a
    binary or undecodable file; nothing is loaded in that case.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise DocumentLoadError(f"--docs {path}: no such file or directory")
    if root.is_file():
        files, base = [root], root.parent
    else:
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
        base = root
        if not files:
            raise DocumentLoadError(f"--docs {path}: no {', '.join(suffixes)} files in this folder")
    documents = []
    for file in files:
        text = _read_text(file)
        if not text.strip():
            continue
        rel = file.relative_to(base).as_posix()
        documents.append(
            Document(
                id_=rel,
                text=text,
                metadata={"file_path": rel, "file_name": file.name},
                excluded_embed_metadata_keys=["file_path"],
                excluded_llm_metadata_keys=["file_path"],
            )
        )
    if not documents:
        raise DocumentLoadError(f"--docs {path}: every file is empty")
    return documents
