"""Export a local Hugging Face encoder to ONNX with ``torch.onnx`` and quantize it to int8.

The recipes that `onnx_cache.cached_onnx_model` runs when an export is missing. Two tasks:
``feature-extraction`` (token vectors, for sentence embeddings) and
``sequence-classification`` (logits, for cross-encoders). Batch and sequence axes are dynamic,
so one graph serves every batch, padded only to its own longest text.

Example:
    >>> from ragdrop.embeddings import bundled_minilm_path
    >>> source = source_identity(bundled_minilm_path(), "all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> export_transformer(bundled_minilm_path(), Path("/tmp/minilm.onnx"))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import re
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal, get_args

from ragdrop.core.files import create_file, open_nofollow

ExportTask = Literal["feature-extraction", "sequence-classification"]
EXPORT_TASKS: tuple[str, ...] = get_args(ExportTask)
OPSET = 17
_OUTPUTS = {"feature-extraction": "last_hidden_state", "sequence-classification": "logits"}
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_WEIGHTS = ("config.json", "model.safetensors", "pytorch_model.bin")
# The feed-forward down-projections (BERT's ``layer.N.output.dense``) see activations with
# large outliers; int8 there costs most of the accuracy. Keeping them fp32 raised the worst
# cosine to torch on all-MiniLM-L6-v2 from 0.986 to 0.995 for ~10% of the int8 speed-up.
KEEP_FP32 = re.compile(r"/layer\.\d+/output/dense/MatMul$")


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "absent"


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open_nofollow(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def source_identity(
    model_dir: str | Path, name: str, task: ExportTask = "feature-extraction"
) -> dict[str, object]:
    """What an export of ``model_dir`` depends on: the weights' and config's hashes, the
    exporter's versions and settings (JSON-able; any change means a new export).

    Args:
        model_dir: local directory of a Hugging Face model.
        name: the model's display name (names the cache folder).
        task: which head is exported (one of `EXPORT_TASKS`).
    """
    if task not in EXPORT_TASKS:
        raise ValueError(f"task must be one of {list(EXPORT_TASKS)}, got {task!r}")
    directory = Path(model_dir)
    files = {f: _file_sha256(directory / f) for f in _WEIGHTS if (directory / f).is_file()}
    if "config.json" not in files or len(files) < 2:
        raise FileNotFoundError(
            f"model_dir {str(directory)!r} has no config.json with model.safetensors or "
            "pytorch_model.bin; pass the directory of a saved Hugging Face model"
        )
    return {
        "name": str(name),
        "task": task,
        "files": files,
        "opset": OPSET,
        "attention": "eager",
        "torch": _version("torch"),
        "transformers": _version("transformers"),
    }


def export_transformer(
    model_dir: str | Path, out: Path, task: ExportTask = "feature-extraction"
) -> None:
    """Write ``model_dir``'s encoder as ONNX to ``out`` (dynamic batch and sequence axes).

    The eager attention is exported (not SDPA): it traces to plain MatMul/Softmax that
    onnxruntime's CPU graph optimizer fuses and that int8 quantization understands.
    """
    if task not in EXPORT_TASKS:
        raise ValueError(f"task must be one of {list(EXPORT_TASKS)}, got {task!r}")
    # Heavy imports on first export only: loading an existing export needs no torch.
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    path = str(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    loader: Any = AutoModel if task == "feature-extraction" else AutoModelForSequenceClassification
    model = loader.from_pretrained(path, local_files_only=True, attn_implementation="eager")
    model.eval()
    names = [n for n in _INPUTS if n in tokenizer.model_input_names]
    output = _OUTPUTS[task]

    class _Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: Any) -> Any:
            return getattr(self.model(**dict(zip(names, inputs, strict=True))), output)

    # Two texts of different lengths: the traced graph sees real padding in the mask.
    sample = tokenizer(
        ["an export sample", "a longer sample sentence, traced for the export"],
        padding=True,
        return_tensors="pt",
    )
    axes: dict[str, dict[int, str]] = {n: {0: "batch", 1: "sequence"} for n in names}
    axes[output] = {0: "batch", 1: "sequence"} if task == "feature-extraction" else {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about Python-side shape checks that are constant for our inputs.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Graph(),
            tuple(sample[n] for n in names),
            str(out),
            input_names=names,
            output_names=[output],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def quantize_int8(fp32: bytes, out: Path, keep_fp32: re.Pattern[str] = KEEP_FP32) -> None:
    """Write a dynamic int8 quantization of the fp32 ONNX model ``fp32`` to ``out``.

    Weights of the constant MatMuls are int8 per channel; activations are quantized per
    batch at run time (no calibration set needed). MatMuls whose node name ``keep_fp32``
    finds stay fp32.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load_from_string(fp32)
    keep = [n.name for n in model.graph.node if n.op_type == "MatMul" and keep_fp32.search(n.name)]
    source = out.with_name(f"{out.stem}.fp32-source.onnx")
    with create_file(source) as handle:  # ``out``'s folder is a fresh private scratch folder
        handle.write(fp32)
    quantize_dynamic(
        model_input=source,
        model_output=out,
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul"],
        nodes_to_exclude=keep,
    )
