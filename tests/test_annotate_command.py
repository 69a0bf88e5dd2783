"""`align annotate` with an in-process transformers judge: every row comes back annotated in the raw
UltraFeedback schema, one request per aspect and per critique, and the output is what binarize reads."""

from __future__ import annotations

import json

from align.data.schema import ASPECTS, parse_rating
from align.jsonl import read_jsonl, write_jsonl

RECIPE = """
name: annotate-test
annotate:
  input: {input}
  output: {output}
  judge: {{backend: transformers, model: "tiny://llama", max_tokens: 12, critique_max_tokens: 12}}
  max_in_flight: 4
"""


def test_annotate_with_an_in_process_judge(tmp_path, write_recipe, tiny_cpu):
    from align.cli import main

    rows = [
        {
            "source": "flan",
            "instruction": f"Question {i}?",
            "models": ["a", "b"],
            "correct_answers": ["yes"],
            "incorrect_answers": ["None"],
            "completions": [
                {
                    "model": m,
                    "principle": "helpfulness",
                    "custom_system_prompt": "Be useful.",
                    "response": f"{m} {i}",
                }
                for m in ("a", "b")
            ],
        }
        for i in range(3)
    ]
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(source, rows)
    recipe = write_recipe(RECIPE.format(input=source, output=output))
    assert main(["annotate", str(recipe)]) == 0
    out = read_jsonl(output)
    assert [r["instruction"] for r in out] == [r["instruction"] for r in rows]
    for row in out:
        for completion in row["completions"]:
            assert set(completion["annotations"]) == set(ASPECTS)
            numeric = [parse_rating(a["Rating"])[0] for a in completion["annotations"].values()]
            numeric = [r for r in numeric if r is not None]
            expected = sum(numeric) / len(numeric) if numeric else None
            assert completion["fine-grained_score"] == expected
            assert "critique" in completion and "overall_score" in completion
    report = json.loads(output.with_suffix(".report.json").read_text())
    assert report["requests"] == 3 * (len(ASPECTS) + 2)  # one per aspect per row, one critique per completion
    assert report["rows_annotated"] == 3 and report["complete"]
