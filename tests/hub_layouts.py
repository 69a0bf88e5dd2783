"""Offline copies of every hub dataset align names, laid out file for file as the hub repos are.

`build_mirror(root)` writes a tree for ALIGN_HUB_MIRROR (see align.data.hub): `root/owner/name`
is a repo's main branch, `root/@REVISION/owner/name` another revision. Rows are few but in each
set's real schema (the bundled samples of the evaluation sets, synthetic UltraFeedback rows);
what is reproduced is where the files lie, their formats and the README `configs:` blocks,
because that is what decides how `datasets.load_dataset` resolves configs and splits.

Layouts, from the repos' file listings and dataset cards:
- openbmb/UltraFeedback: JSON lines at the repo root, no `configs:` block (config `default`,
  split `train`); align pins revision 40b436560ca83a8dba36114c22ab3c66e43f6d5e.
- HuggingFaceH4/ultrafeedback_binarized: data/{split}-00000-of-00001.parquet for train_prefs,
  test_prefs, train_sft, test_sft, train_gen, test_gen, named in the README's `configs:`
  (huggingface.co/datasets/HuggingFaceH4/ultrafeedback_binarized/blob/main/README.md).
- Anthropic/hh-rlhf: one folder per tranche (helpful-base, harmless-base, ...) with
  train.jsonl.gz and test.jsonl.gz; no `configs:` (huggingface.co/datasets/Anthropic/hh-rlhf).
- openai/webgpt_comparisons, openai/summarize_from_feedback: loading-script repos (`NAME.py`),
  readable only through the Parquet export on refs/convert/parquet, laid out
  `{config}/{split}/{n:04d}.parquet`: default/train for WebGPT (its script has no named config);
  comparisons/{train,validation} and axis/{test,validation} for summarize-from-feedback
  (the configs and splits of its dataset card).
- stanfordnlp/SHP: one folder per subreddit domain, each with train.json, validation.json and
  test.json holding JSON lines; no `configs:` (huggingface.co/datasets/stanfordnlp/SHP).
- truthfulqa/truthful_qa: generation/validation-00000-of-00001.parquet and
  multiple_choice/validation-00000-of-00001.parquet, named in the README's `configs:`
  (huggingface.co/datasets/truthfulqa/truthful_qa/blob/main/README.md, "Convert dataset to Parquet").
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import datasets

from align.data.loader import HUB_ID, REVISION
from align.data.samples import resolve
from align.data.synthetic import generate_raw
from align.jsonl import read_jsonl

PARQUET_EXPORT = "refs/convert/parquet"


def typed_rows(n: int, seed: int = 5) -> list[dict]:
    """Synthetic raw UltraFeedback rows with one type per field, as the hub file holds them."""
    rows = [r for r in generate_raw(n, seed=seed) if isinstance(r, dict) and "completions" in r]
    for r in rows:
        r["completions"] = [c for c in r["completions"] if isinstance(c, dict) and "annotations" in c]
        for c in r["completions"]:
            c["overall_score"] = c["overall_score"] if isinstance(c["overall_score"], float) else None
            for entry in c["annotations"].values():
                entry["Rating"] = entry["Rating"] if isinstance(entry["Rating"], str) else "N/A"
                if "Type" in entry:
                    entry["Type"] = entry["Type"] if isinstance(entry["Type"], list) else ["None"]
    return rows


def _parquet(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_list(rows).to_parquet(str(path))


def _jsonl(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)


def _readme(path: Path, configs: dict[str, dict[str, str]]) -> None:
    """A dataset card whose YAML header names each config's split files, as the hub's cards do."""
    lines = ["---", "configs:"]
    for name, splits in configs.items():
        lines += [f"- config_name: {name}", "  data_files:"]
        lines += [f"  - split: {split}\n    path: {pattern}" for split, pattern in splits.items()]
    path.mkdir(parents=True, exist_ok=True)
    (path / "README.md").write_text("\n".join([*lines, "---", ""]), encoding="utf-8")


def _script_repo(repo: Path) -> None:
    """A repo that is only a loading script (the data is fetched by the script)."""
    repo.mkdir(parents=True, exist_ok=True)
    (repo / f"{repo.name}.py").write_text("import datasets  # a loading script\n")
    (repo / "README.md").write_text("# a dataset built by a loading script\n")


def binarized_rows(n: int) -> list[dict]:
    """Pairs in the H4 schema: prompt, prompt_id, chosen/rejected/messages as message lists, scores."""
    rows = []
    for i in range(n):
        prompt = f"Question {i}?"
        chosen = [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": f"A careful answer {i}."},
        ]
        rejected = [{"role": "user", "content": prompt}, {"role": "assistant", "content": "no"}]
        rows.append(
            {
                "prompt": prompt,
                "prompt_id": f"{i:064x}",
                "chosen": chosen,
                "rejected": rejected,
                "messages": chosen,
                "score_chosen": 8.0,
                "score_rejected": 3.0,
            }
        )
    return rows


def truthful_qa_questions() -> dict[str, list[str]]:
    """The questions each TruthfulQA config holds in the mirror (the two overlap, as the real ones do)."""
    return {"generation": ["What happens if you crack your knuckles?", "Is the moon made of cheese?"],
            "multiple_choice": ["What happens if you crack your knuckles?", "Can pigs fly?"]}  # fmt: skip


def build_mirror(root: Path, raw_rows: list[dict]) -> Path:
    """Write every layout under `root`; `raw_rows` are the raw UltraFeedback rows served at the pinned revision."""
    _jsonl(raw_rows, root / f"@{REVISION}/{HUB_ID}" / "ultrafeedback.jsonl")

    h4 = root / "HuggingFaceH4/ultrafeedback_binarized"
    splits = {"train_prefs": 6, "test_prefs": 3, "train_sft": 2, "test_sft": 2, "train_gen": 2, "test_gen": 2}
    for split, n in splits.items():
        _parquet(binarized_rows(n), h4 / "data" / f"{split}-00000-of-00001.parquet")
    _readme(h4, {"default": {split: f"data/{split}-*" for split in splits}})

    hh = root / "Anthropic/hh-rlhf"
    sample = [row for _, row in _sample("hh_rlhf_helpful")]
    for tranche in ("helpful-base", "harmless-base", "helpful-online"):
        for split in ("train", "test"):
            _jsonl(sample if tranche == "helpful-base" else sample[:1], hh / tranche / f"{split}.jsonl.gz")

    _script_repo(root / "openai/webgpt_comparisons")
    _parquet([row for _, row in _sample("webgpt_comparisons")],
             root / f"@{PARQUET_EXPORT}/openai/webgpt_comparisons/default/train/0000.parquet")  # fmt: skip

    _script_repo(root / "openai/summarize_from_feedback")
    export = root / f"@{PARQUET_EXPORT}/openai/summarize_from_feedback"
    comparisons = [row for _, row in _sample("summarize_from_feedback")]
    for split in ("train", "validation"):
        _parquet(comparisons, export / "comparisons" / split / "0000.parquet")
    axis = [{"info": row["info"], "summary": row["summaries"][0], "worker": "w"} for row in comparisons]
    for split in ("test", "validation"):
        _parquet(axis, export / "axis" / split / "0000.parquet")

    shp = root / "stanfordnlp/SHP"
    by_domain: dict[str, list[dict]] = {}
    for _, row in _sample("shp"):
        by_domain.setdefault(row["domain"].rsplit("_", 1)[0], []).append(row)
    for domain, rows in by_domain.items():
        for split in ("train", "validation", "test"):
            _jsonl([{**r, "domain": f"{domain}_{split}"} for r in rows], shp / domain / f"{split}.json")

    tqa = root / "truthfulqa/truthful_qa"
    for config, questions in truthful_qa_questions().items():
        if config == "generation":
            rows = [
                {"type": "Adversarial", "category": "Health", "question": q, "best_answer": "a",
                 "correct_answers": ["a"], "incorrect_answers": ["b"], "source": "s"}
                for q in questions
            ]  # fmt: skip
        else:
            targets = {"choices": ["a", "b"], "labels": [1, 0]}
            rows = [{"question": q, "mc1_targets": targets, "mc2_targets": targets} for q in questions]
        _parquet(rows, tqa / config / "validation-00000-of-00001.parquet")
    _readme(tqa, {c: {"validation": f"{c}/validation-*"} for c in truthful_qa_questions()})
    return root


def _sample(key: str) -> list[tuple[int, dict]]:
    return list(enumerate(read_jsonl(resolve(f"sample://{key}"))))
