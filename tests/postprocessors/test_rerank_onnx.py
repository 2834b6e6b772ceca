"""The ONNX Runtime backend of CrossEncoderReranker against its torch path (issue 17, item 2).

A real (tiny, locally built) cross-encoder is exported once per module into a folder of this
test run; tests that need a broken or fresh export copy that folder instead of exporting.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from llama_index.core.schema import NodeWithScore, TextNode

from ragdrop.core.files import read_bytes
from ragdrop.embeddings.onnx_cache import export_folder
from ragdrop.embeddings.onnx_export import source_identity
from ragdrop.postprocessors import CrossEncoderReranker
from ragdrop.postprocessors.onnx_cross_encoder import OnnxCrossEncoderRunner

pytestmark = pytest.mark.integration

QUERY = "how does BM25 rank documents?"
LONG = "Okapi BM25 weighs term frequency against document length. " * 80  # past 512 tokens
TEXTS = [
    "BM25 ranks documents by term frequency and inverse document frequency.",
    "To bake bread, knead the dough and let it rise for an hour.",
    "Qdrant stores vectors with payloads and searches them with HNSW.",
    LONG,
    "Ünïcödé: 日本語の文章、Ελληνικά, emoji 🙂 and naïve café",
    "x",
]


def _nodes() -> list[NodeWithScore]:
    return [
        NodeWithScore(node=TextNode(text=t, id_=f"t{i}"), score=0.5) for i, t in enumerate(TEXTS)
    ]


def _scores(reranker: CrossEncoderReranker, query: str = QUERY) -> dict[str, float]:
    out = reranker.postprocess_nodes(_nodes(), query_str=query)
    return {n.node.node_id: float(n.score or 0.0) for n in out}


@pytest.fixture(scope="module")
def onnx_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rerank-onnx")


def _reranker(model: Path, onnx_root: Path, **kwargs: object) -> CrossEncoderReranker:
    return CrossEncoderReranker(
        model=str(model), top_n=None, device="cpu", onnx_dir=str(onnx_root), **kwargs
    )


@pytest.fixture(scope="module")
def onnx_reranker(tiny_cross_encoder_path: Path, onnx_root: Path) -> CrossEncoderReranker:
    model = _reranker(tiny_cross_encoder_path, onnx_root, backend="onnx", activation="none")
    model.warm_up()
    return model


@pytest.fixture(scope="module")
def torch_reranker(tiny_cross_encoder_path: Path) -> CrossEncoderReranker:
    model = CrossEncoderReranker(
        model=str(tiny_cross_encoder_path),
        top_n=None,
        device="cpu",
        backend="torch",
        activation="none",
    )
    model.warm_up()
    return model


def _export_folder(model: Path, onnx_root: Path) -> Path:
    return export_folder(onnx_root, source_identity(model, str(model), "sequence-classification"))


@pytest.mark.parametrize("activation", ["none", "sigmoid", "model"])
@pytest.mark.parametrize("batch_size", [32, 2])
def test_fp32_scores_equal_torch_on_the_same_activation(
    onnx_reranker: CrossEncoderReranker,
    torch_reranker: CrossEncoderReranker,
    activation: str,
    batch_size: int,
) -> None:
    settings = {"activation": activation, "batch_size": batch_size}
    onnx = _scores(onnx_reranker.model_copy(update=settings))
    torch = _scores(torch_reranker.model_copy(update=settings))
    assert onnx == pytest.approx(torch, abs=1e-4)
    assert onnx_reranker.resolved_backend == "onnx"


def test_max_length_cuts_the_passage_the_same_way(
    onnx_reranker: CrossEncoderReranker, torch_reranker: CrossEncoderReranker
) -> None:
    short = {"max_length": 24}
    onnx = _scores(onnx_reranker.model_copy(update=short))
    assert onnx == pytest.approx(_scores(torch_reranker.model_copy(update=short)), abs=1e-4)
    assert onnx != pytest.approx(_scores(onnx_reranker), abs=1e-6)  # the cut changed them
    assert onnx_reranker.model_copy(update=short).resolved_max_length == 24


def test_auto_is_onnx_on_the_cpu_and_torch_for_reduced_precision(
    tiny_cross_encoder_path: Path, onnx_root: Path, onnx_reranker: CrossEncoderReranker
) -> None:
    auto = _reranker(tiny_cross_encoder_path, onnx_root, activation="none")
    assert auto.backend == "auto" and auto.resolved_backend == "onnx"
    assert _scores(auto) == _scores(onnx_reranker)  # the same export, bit for bit
    bf16 = _reranker(tiny_cross_encoder_path, onnx_root, precision="bfloat16")
    assert bf16.resolved_backend == "torch"


def test_int8_is_close_and_cached_apart(
    tiny_cross_encoder_path: Path,
    onnx_root: Path,
    onnx_reranker: CrossEncoderReranker,
    tmp_path: Path,
) -> None:
    int8 = _reranker(
        tiny_cross_encoder_path,
        onnx_root,
        backend="onnx-int8",
        activation="none",
        cache_dir=str(tmp_path / "scores"),
    )
    scores = _scores(int8)
    assert scores == pytest.approx(_scores(onnx_reranker), abs=0.05)
    assert (_export_folder(tiny_cross_encoder_path, onnx_root) / "int8.onnx").is_file()
    # The score cache keys name the backend: fp32 on the same cache runs its own model.
    fp32 = int8.model_copy(update={"backend": "onnx"})
    assert _scores(fp32) == pytest.approx(_scores(onnx_reranker), abs=1e-6)
    assert fp32.pairs_scored == len(TEXTS)


def test_a_corrupt_export_is_rebuilt_and_then_used(
    tiny_cross_encoder_path: Path,
    onnx_root: Path,
    onnx_reranker: CrossEncoderReranker,
    tmp_path: Path,
) -> None:
    folder = _export_folder(tiny_cross_encoder_path, onnx_root)
    copy = tmp_path / "onnx" / folder.name
    shutil.copytree(folder, copy)
    os.chmod(tmp_path / "onnx", 0o700)
    (copy / ".export.lock").unlink(missing_ok=True)
    intact = read_bytes(copy / "fp32.onnx")
    (copy / "fp32.onnx").write_bytes(intact[: len(intact) // 2])  # a partial write
    fresh = _reranker(tiny_cross_encoder_path, tmp_path / "onnx", activation="none")
    assert _scores(fresh) == pytest.approx(_scores(onnx_reranker), abs=1e-6)
    runner = fresh._runner
    assert isinstance(runner, OnnxCrossEncoderRunner) and runner.export_built
    manifest = json.loads((copy / "fp32.json").read_text(encoding="utf-8"))
    assert manifest["onnx_bytes"] == len(read_bytes(copy / "fp32.onnx")) > len(intact) // 2
    again = _reranker(tiny_cross_encoder_path, tmp_path / "onnx", activation="none")
    again.warm_up()
    assert isinstance(again._runner, OnnxCrossEncoderRunner) and not again._runner.export_built


def test_concurrent_first_use_exports_once(tiny_cross_encoder_path: Path, tmp_path: Path) -> None:
    shared = _reranker(tiny_cross_encoder_path, tmp_path / "onnx", activation="none")
    apart = [
        _reranker(tiny_cross_encoder_path, tmp_path / "onnx", activation="none") for _ in range(3)
    ]
    barrier = threading.Barrier(6)

    def first_use(reranker: CrossEncoderReranker) -> dict[str, float]:
        barrier.wait()
        return _scores(reranker)

    # Three threads share one instance, three more bring their own: one export in all.
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(first_use, [shared, shared, shared, *apart]))
    for result in results:
        assert result == pytest.approx(results[0], abs=1e-6)
    runners = [r._runner for r in (shared, *apart)]
    assert all(isinstance(r, OnnxCrossEncoderRunner) for r in runners)
    assert sum(r.export_built for r in runners if isinstance(r, OnnxCrossEncoderRunner)) == 1
    assert shared.pairs_scored == 3 * len(TEXTS)
    folder = _export_folder(tiny_cross_encoder_path, tmp_path / "onnx")
    assert sorted(p.name for p in folder.iterdir()) == [".export.lock", "fp32.json", "fp32.onnx"]


def test_auto_falls_back_to_torch_when_onnxruntime_cannot_import(
    tiny_cross_encoder_path: Path,
) -> None:
    script = (
        "import sys, logging\n"
        "sys.modules['onnxruntime'] = None\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "from ragdrop.postprocessors import CrossEncoderReranker\n"
        f"model = {str(tiny_cross_encoder_path)!r}\n"
        "auto = CrossEncoderReranker(model=model, device='cpu')\n"
        "print('backend', auto.resolved_backend)\n"
        "try:\n"
        "    CrossEncoderReranker(model=model, backend='onnx').warm_up()\n"
        "except ImportError as exc:\n"
        "    print('explicit onnx:', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert "backend torch" in done.stdout
    assert "rerank backend auto: torch, because onnxruntime cannot be imported" in done.stderr
    assert "needs onnxruntime" in done.stdout and "use backend='torch'" in done.stdout


@pytest.mark.parametrize(
    "kwargs",
    [
        {"backend": "onnx", "device": "cuda"},
        {"backend": "onnx-int8", "precision": "int8"},
        {"backend": "onnx", "precision": "bfloat16"},
    ],
)
def test_settings_onnx_cannot_honour_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="backend"):
        CrossEncoderReranker(**kwargs)


def test_a_model_with_several_labels_is_refused_before_export(
    tiny_cross_encoder_path: Path, tmp_path: Path
) -> None:
    model = tmp_path / "two-labels"
    shutil.copytree(tiny_cross_encoder_path, model)
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    config["id2label"] = {"0": "LABEL_0", "1": "LABEL_1"}
    config["label2id"] = {"LABEL_0": 0, "LABEL_1": 1}
    (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
    reranker = _reranker(model, tmp_path / "onnx", backend="onnx")
    with pytest.raises(ValueError, match="num_labels=2"):
        reranker.warm_up()
    assert not list((tmp_path / "onnx").glob("*/fp32.onnx"))
