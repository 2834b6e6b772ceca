"""Leave-one-dataset-out selection (benchmarks/select_default.py) on two tiny BEIR folders."""

from __future__ import annotations

import importlib
import json
import statistics
from pathlib import Path
from types import ModuleType

import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"

CONFIGS_TOML = """
[configs.rrf]
fusion_method = "rrf"
rrf_k = 10
weights = [1.0, 1.0]
candidates = 100
feedback = false
bm25 = { k1 = 1.5, b = 0.75, idf = "okapi", stopwords = "en_plus", stemmer = "english" }

[configs.bm25_heavy]
fusion_method = "zscore"
rrf_k = 10
weights = [1.0, 0.2]
candidates = 100
feedback = false
bm25 = { k1 = 1.2, b = 0.75, idf = "lucene", stopwords = "en", stemmer = false }
"""

SPACE = {
    "qdrant": "Qdrant is a vector database written in Rust with HNSW indexes.",
    "bm25": "BM25 ranks documents by term frequency and inverse document frequency.",
    "bread": "Mix flour, water, salt and yeast, knead the dough and bake it.",
    "tea": "Green tea is brewed at eighty degrees for two or three minutes.",
    "bikes": "Bicycle chains need oil every few hundred kilometres of riding.",
    "garden": "Tomato plants need full sun, deep watering and a sturdy stake.",
    "rust": "Rust's borrow checker enforces ownership and lifetimes at compile time.",
}
SPACE_QUERIES = {
    "q1": ("which vector database uses HNSW", "qdrant"),
    "q2": ("bake bread with yeast", "bread"),
    "q3": ("how hot should the water be for green tea", "tea"),
}
OCEAN = {
    "whale": "Blue whales are the largest animals and eat krill in cold seas.",
    "coral": "Coral reefs bleach when the water grows too warm for their algae.",
    "tide": "Tides rise and fall twice a day, pulled by the moon's gravity.",
    "salt": "Sea water holds about thirty five grams of salt per litre.",
    "squid": "Giant squid live in the deep ocean and have enormous eyes.",
    "wave": "Surf waves break when the sea floor slows their base near the shore.",
}
OCEAN_QUERIES = {
    "o1": ("why do reefs lose their colour", "coral"),
    "o2": ("what makes tides", "tide"),
    "o3": ("largest animal eating krill", "whale"),
}


def _write_beir(root: Path, corpus: dict[str, str], queries: dict[str, tuple[str, str]]) -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": "", "text": t}) + "\n" for i, t in corpus.items())
    )
    (root / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, (t, _) in queries.items())
    )
    qrels = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t1" for q, (_, d) in queries.items()]
    (root / "qrels" / "test.tsv").write_text("\n".join(qrels) + "\n")
    return root


@pytest.fixture(scope="module")
def select() -> ModuleType:
    # benchmarks/ is a package at the repository root, not an installed one.
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCH_DIR.parent))
        return importlib.import_module("benchmarks.select_default")


@pytest.mark.unit
def test_each_fold_picks_the_best_mean_on_the_other_sets(select: ModuleType) -> None:
    deltas = {
        "a": {"x": 0.05, "y": -0.01, "z": 0.00},
        "b": {"x": 0.00, "y": 0.02, "z": 0.01},
        "c": {"x": 0.01, "y": 0.01, "z": 0.01},
    }
    folds = select.leave_one_dataset_out(deltas, ["x", "y", "z"])
    # held out x: b 0.015 beats c 0.01 on y, z; held out y: a 0.025; held out z: a 0.02
    assert [(held, chosen) for held, chosen, _ in folds] == [("x", "b"), ("y", "a"), ("z", "a")]
    assert folds[1][2] == pytest.approx(0.025)
    assert select.select_default([c for _, c, _ in folds], deltas, ["x", "y", "z"]) == "a"
    # a tie in folds goes to the best mean over every set: c (0.02) over b (0.015)
    tied = {"b": {"x": 0.0, "y": 0.03}, "c": {"x": 0.02, "y": 0.02}}
    assert select.select_default(["b", "c"], tied, ["x", "y"]) == "c"
    with pytest.raises(ValueError, match="at least 2 datasets"):
        select.leave_one_dataset_out(deltas, ["x"])


@pytest.mark.unit
def test_configs_are_checked_before_any_evaluation(select: ModuleType) -> None:
    configs = select.parse_configs({"configs": {"default": {}, "z": {"fusion_method": "rrf"}}})
    assert [c.name for c in configs] == ["default", "z"]
    assert configs[0].hybrid_kwargs() == {}
    with pytest.raises(ValueError, match=r"\[configs.bad\] has unknown key\(s\) \['fusion'\]"):
        select.parse_configs({"configs": {"bad": {"fusion": "rrf"}}})
    with pytest.raises(ValueError, match=r"\[configs.bad\].*fusion_method"):
        select.parse_configs({"configs": {"bad": {"fusion_method": "borda"}}})
    with pytest.raises(ValueError, match=r"\[configs.bad\] bm25 has unknown key"):
        select.parse_configs({"configs": {"bad": {"bm25": {"k3": 1.0}}}})


@pytest.mark.integration
def test_lodo_over_two_tiny_sets_writes_the_table_and_json(
    select: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = _write_beir(tmp_path / "space", SPACE, SPACE_QUERIES)
    ocean = _write_beir(tmp_path / "ocean", OCEAN, OCEAN_QUERIES)
    configs = tmp_path / "configs.toml"
    configs.write_text(CONFIGS_TOML)
    out = tmp_path / "out"
    argv = [str(space), str(ocean), "--configs", str(configs), "--output-dir", str(out)]
    code = select.main([*argv, "--cache-dir", str(tmp_path / "cache")])
    assert code == 0

    data = json.loads((out / "lodo.json").read_text())
    assert (out / "lodo.md").read_text() == capsys.readouterr().out.rstrip("\n") + "\n"
    folds = data["folds"]
    assert [f["held_out"] for f in folds] == ["space", "ocean"]
    for fold in folds:
        other = next(f["held_out"] for f in folds if f is not fold)
        gains = {
            name: scores["delta"] for name, scores in data["datasets"][other]["configs"].items()
        }
        assert fold["chosen"] == max(gains, key=lambda name: gains[name])
        held = data["datasets"][fold["held_out"]]
        assert fold["ndcg@10"] == pytest.approx(held["configs"][fold["chosen"]]["ndcg@10"])
        assert fold["baseline_ndcg@10"] == pytest.approx(held["baseline"]["ndcg@10"])
        per_query = held["baseline"]["per_query_ndcg@10"]
        assert len(per_query) == 3
        assert statistics.fmean(per_query.values()) == pytest.approx(
            held["baseline"]["ndcg@10"], abs=1e-5
        )
    assert data["selected"] in {f["chosen"] for f in folds}
    assert data["default_is_selected"] is None  # no config named "default" here

    markdown = (out / "lodo.md").read_text()
    table = markdown.split("\n\n")[1].splitlines()
    assert len(table) == 2 + len(folds)  # header, rule, one row per fold
    assert f"Selected default: **{data['selected']}**" in markdown
    assert "| rrf |" in markdown and "| bm25_heavy |" in markdown
