"""The ONNX Runtime backend against the torch path, and the export cache it relies on.

The real all-MiniLM-L6-v2 is exported once per session; tests that need a broken or fresh
cache copy that export's folder (same source, so the same folder name) instead of exporting.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from llama_index.core import Document

from ragdrop.cache.embedding import model_identity
from ragdrop.core.files import UnsafePathError, read_bytes
from ragdrop.embeddings import SentenceTransformerEmbedding, bundled_minilm_path
from ragdrop.embeddings.onnx_cache import cached_onnx_model, export_folder, load_verified
from ragdrop.embeddings.onnx_export import export_transformer, source_identity
from ragdrop.pipeline import PipelineConfig, RagPipeline

pytestmark = pytest.mark.integration

NAME = "sentence-transformers/all-MiniLM-L6-v2"
FIXTURE_TEXTS = {
    "qdrant": (
        "Qdrant is a vector database written in Rust. It stores points with vectors and "
        "payloads. Collections can be sharded across nodes and replicated for availability."
    ),
    "bm25": (
        "BM25 is a ranking function used by search engines. It scores documents by term "
        "frequency and inverse document frequency."
    ),
    "cooking": (
        "To bake bread, mix flour, water, salt and yeast. Knead the dough for ten minutes. "
        "Let it rise for an hour, shape it, and bake it at 230 degrees Celsius."
    ),
}
LONG = " ".join(FIXTURE_TEXTS.values()) * 6  # ~600 words: truncated at max_seq_length
TEXTS = [
    *FIXTURE_TEXTS.values(),
    LONG,
    "",
    "   leading and trailing spaces   ",
    "Ünïcödé: 日本語の文章、Ελληνικά, emoji 🙂 and naïve café",
    "what is qdrant?",
    "x",
]


@pytest.fixture(scope="session")
def source() -> dict[str, object]:
    return source_identity(bundled_minilm_path(), NAME)


@pytest.fixture(scope="session")
def onnx_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="session")
def onnx_model(onnx_root: Path) -> SentenceTransformerEmbedding:
    model = SentenceTransformerEmbedding(backend="onnx", onnx_dir=onnx_root)
    model.warm_up()
    return model


@pytest.fixture(scope="session")
def torch_model() -> SentenceTransformerEmbedding:
    model = SentenceTransformerEmbedding(backend="torch")
    model.warm_up()
    return model


def min_cosine(a: list[list[float]], b: list[list[float]]) -> float:
    x, y = np.asarray(a), np.asarray(b)
    return float((x * y).sum(axis=1).min())


def copy_export(onnx_root: Path, source: dict[str, object], to: Path) -> Path:
    """A copy of the session's export folder under ``to`` (the same folder name)."""
    folder = export_folder(onnx_root, source)
    target = to / folder.name
    shutil.copytree(folder, target)
    os.chmod(to, 0o700)
    (target / ".export.lock").unlink(missing_ok=True)
    return target


def test_fp32_matches_torch_on_every_text(
    onnx_model: SentenceTransformerEmbedding, torch_model: SentenceTransformerEmbedding
) -> None:
    expected = torch_model.get_text_embedding_batch(TEXTS)
    assert min_cosine(onnx_model.get_text_embedding_batch(TEXTS), expected) >= 1 - 1e-4
    # Small batches: length-sorted batches come back in the callers' order.
    small = copy.deepcopy(onnx_model)
    small.embed_batch_size = 3
    assert min_cosine(small.get_text_embedding_batch(TEXTS), expected) >= 1 - 1e-4
    query = onnx_model.get_query_embedding("what is qdrant?")
    assert min_cosine([query], [torch_model.get_query_embedding("what is qdrant?")]) >= 1 - 1e-4
    assert onnx_model.dimension == 384 and onnx_model.max_seq_length == 256
    assert onnx_model.count_tokens(LONG) > 256


async def test_async_variants_match(onnx_model: SentenceTransformerEmbedding) -> None:
    vectors = await onnx_model.aget_text_embedding_batch(TEXTS[:3])
    assert vectors == onnx_model.get_text_embedding_batch(TEXTS[:3])
    assert await onnx_model.aget_query_embedding("x") == onnx_model.get_query_embedding("x")


def test_int8_is_close_and_never_shares_a_cache_identity(
    onnx_root: Path,
    onnx_model: SentenceTransformerEmbedding,
    torch_model: SentenceTransformerEmbedding,
) -> None:
    int8 = SentenceTransformerEmbedding(backend="onnx-int8", onnx_dir=onnx_root)
    cosine = min_cosine(
        int8.get_text_embedding_batch(TEXTS), torch_model.get_text_embedding_batch(TEXTS)
    )
    print(f"int8: min cosine to torch {cosine:.4f}")
    assert cosine >= 0.98  # measured 0.985 (the empty string), 0.992-0.998 on real text
    identities = {model_identity(m) for m in (int8, onnx_model, torch_model)}
    assert len(identities) == 3
    assert model_identity(onnx_model) == model_identity(
        SentenceTransformerEmbedding(backend="onnx", onnx_dir=onnx_root / "elsewhere")
    )


def test_copies_and_dicts_keep_the_resolved_backend(
    onnx_model: SentenceTransformerEmbedding,
) -> None:
    assert SentenceTransformerEmbedding().backend == "onnx"  # auto, onnxruntime importable
    data = json.loads(onnx_model.to_json())
    assert data["backend"] == "onnx"
    assert SentenceTransformerEmbedding.from_dict(data).to_dict() == onnx_model.to_dict()
    twin = copy.deepcopy(onnx_model)
    assert twin.tokenizer is onnx_model.tokenizer  # the loaded session is shared
    with pytest.raises(ValueError, match="backend"):
        SentenceTransformerEmbedding(backend="tensorrt")


@pytest.mark.parametrize(
    "damage",
    ["truncated", "flipped byte", "no manifest", "manifest not json", "other source"],
)
def test_a_damaged_export_is_not_used(
    damage: str, onnx_root: Path, source: dict[str, object], tmp_path: Path
) -> None:
    folder = copy_export(onnx_root, source, tmp_path / "cache")
    assert load_verified(folder, source, "fp32") is not None
    model, manifest = folder / "fp32.onnx", folder / "fp32.json"
    data = read_bytes(model)
    if damage == "truncated":
        model.write_bytes(data[: len(data) // 2])
    elif damage == "flipped byte":
        model.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    elif damage == "no manifest":
        manifest.unlink()
    elif damage == "manifest not json":
        manifest.write_text("{not json")
    else:
        assert load_verified(folder, {**source, "torch": "0.0"}, "fp32") is None
        return
    assert load_verified(folder, source, "fp32") is None


def test_a_truncated_export_is_rebuilt_and_then_used(
    onnx_root: Path,
    source: dict[str, object],
    onnx_model: SentenceTransformerEmbedding,
    tmp_path: Path,
) -> None:
    folder = copy_export(onnx_root, source, tmp_path / "cache")
    intact = read_bytes(folder / "fp32.onnx")
    (folder / "fp32.onnx").write_bytes(intact[:1000])
    rebuilt = SentenceTransformerEmbedding(backend="onnx", onnx_dir=tmp_path / "cache")
    assert (
        min_cosine(
            rebuilt.get_text_embedding_batch(TEXTS), onnx_model.get_text_embedding_batch(TEXTS)
        )
        >= 1 - 1e-6
    )
    data = read_bytes(folder / "fp32.onnx")
    manifest = json.loads((folder / "fp32.json").read_text())
    assert manifest["onnx_sha256"] == hashlib.sha256(data).hexdigest()
    assert len(data) > 1_000_000 and not list(folder.glob(".build-*"))


def test_a_planted_symlink_is_replaced_not_followed(
    onnx_root: Path, source: dict[str, object], tmp_path: Path
) -> None:
    folder = copy_export(onnx_root, source, tmp_path / "cache")
    intact = read_bytes(folder / "fp32.onnx")
    outside = tmp_path / "outside.onnx"
    outside.write_bytes(intact)  # even an export that matches the manifest is refused
    (folder / "fp32.onnx").unlink()
    (folder / "fp32.onnx").symlink_to(outside)
    with pytest.raises(UnsafePathError):
        read_bytes(folder / "fp32.onnx")
    artifact = cached_onnx_model(
        tmp_path / "cache", source, "fp32", lambda out: out.write_bytes(intact)
    )
    assert artifact.built and not (folder / "fp32.onnx").is_symlink()
    assert outside.read_bytes() == intact  # the link's target was never written


def test_concurrent_first_use_exports_once(source: dict[str, object], tmp_path: Path) -> None:
    root = tmp_path / "cache"
    results: list[object] = []
    barrier = threading.Barrier(4)

    def first_use() -> None:
        barrier.wait()
        results.append(
            cached_onnx_model(
                root, source, "fp32", lambda out: export_transformer(bundled_minilm_path(), out)
            )
        )

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 4
    assert sum(r.built for r in results) == 1  # type: ignore[attr-defined]
    assert len({r.sha256 for r in results}) == 1  # type: ignore[attr-defined]


def test_auto_falls_back_to_torch_when_onnxruntime_cannot_import() -> None:
    script = (
        "import sys, logging\n"
        "sys.modules['onnxruntime'] = None\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "from ragdrop.embeddings import SentenceTransformerEmbedding\n"
        "print('backend', SentenceTransformerEmbedding().backend)\n"
        "try:\n"
        "    SentenceTransformerEmbedding(backend='onnx').warm_up()\n"
        "except ImportError as exc:\n"
        "    print('explicit onnx:', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert "backend torch" in done.stdout
    assert "onnxruntime cannot be imported" in done.stderr
    assert "use backend='torch'" in done.stdout


def test_pipeline_health_names_the_backend(
    onnx_root: Path, source: dict[str, object], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    cache = data_dir / "cache" / "onnx"
    cache.parent.mkdir(parents=True, mode=0o700)
    os.chmod(data_dir, 0o700)
    copy_export(onnx_root, source, cache)  # the pipeline's export folder, already built
    config = PipelineConfig(data_dir=data_dir, collection="h", rerank=False, embed_backend="onnx")
    with RagPipeline(config) as pipeline:
        pipeline.ingest([Document(text=FIXTURE_TEXTS["qdrant"], id_="qdrant")])
        detail = pipeline.health().to_dict()["checks"]["models"]["detail"]
    assert "backend onnx" in detail, detail
