"""`annotate_file` end to end against real servers on 127.0.0.1: a judge written for the tests, and
`transformers serve` with a tiny model. Output is checked against independent computations, fed to
`align binarize` and `align data-report`, and an interrupted run (SIGINT, or the server going away)
is resumed into the same bytes as an uninterrupted one."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from align.cli import main as cli
from align.config.annotate import AnnotateConfig
from align.data.schema import ASPECTS, parse_completion
from align.errors import AlignError
from align.jsonl import read_jsonl, write_jsonl
from align.pipeline.judge.annotate import annotate_file, progress_path, report_path
from align.pipeline.judge.journal import row_keys
from align.pipeline.judge.rubric import load_rubric
from judge_http import ChatServer
from repo_paths import REPO

RUBRIC = load_rubric("v1")
TEXT = re.compile(r"^Text (\d+):\n<<<\n(.*?)\n>>>$", re.DOTALL | re.MULTILINE)
ANSWER = re.compile(r"^Answer:\n<<<\n(.*?)\n>>>$", re.DOTALL | re.MULTILINE)


def expected_rating(response: str, aspect: str) -> int:
    """What the test judge rates: a function of the text alone, so the test can recompute it."""
    return (len(response) + 3 * ASPECTS.index(aspect)) % 5 + 1


def expected_overall(response: str) -> float:
    return float(len(response.encode()) % 10 + 1)  # 1 included: it must stay 1


def judge_reply(body: dict) -> str:
    """A judge that follows the rubric's format, in one of three layouts picked by the prompt's hash."""
    system, prompt = body["messages"][0]["content"], body["messages"][-1]["content"]
    if system == RUBRIC.data["critique"]["system"].strip():
        response = ANSWER.search(prompt).group(1)
        return f"The answer needs work.\n\nIt should be shorter.\nOverall score: {expected_overall(response):.0f}"
    aspect = next(a for a in ASPECTS if RUBRIC.aspect(a)["rubric"].split("\n")[0] in prompt)
    typed = "types" in RUBRIC.aspect(aspect)
    layout = hashlib.sha256(prompt.encode()).digest()[0] % 3
    blocks = []
    for number, response in TEXT.findall(prompt):
        rating = expected_rating(response, aspect)
        type_lines = ["Type: 1, 3", "Type rationale: relevant\n\nand concise"] if typed else []
        lines = [f"Rating: {rating}", f"Rationale: text of length {len(response)}\n\nsecond paragraph"]
        if layout == 0:
            blocks.append("\n".join([f"Text {number}", *type_lines, *lines]))
        elif layout == 1:
            blocks.append(
                "\n".join([f"### Output for Text {number}", *reversed(lines), *type_lines]) + "\n\n---"
            )
        else:
            blocks.append("\n".join([f"**Text {number}:**", *lines, *type_lines]))
    preamble = "Here are my ratings.\n\n" if layout == 2 else ""
    return preamble + "\n\n".join(blocks) + "\n"


def unannotated(rows: list[dict]) -> list[dict]:
    keep = ("model", "principle", "custom_system_prompt", "response")
    return [{**r, "completions": [{k: c[k] for k in keep} for c in r["completions"]]} for r in rows]


@pytest.fixture
def raw_input(tmp_path: Path) -> Path:
    rows = unannotated(read_jsonl(REPO / "src/align/data/sample/ultrafeedback_sample.jsonl")[:10])
    return write_jsonl(tmp_path / "generated.jsonl", rows)


def config(server: ChatServer | str, **kwargs) -> AnnotateConfig:
    base_url = server if isinstance(server, str) else server.base_url
    judge = {"base_url": base_url, "model": "test-judge", **kwargs.pop("judge", {})}
    return AnnotateConfig(judge=judge, **{"backoff": 0.01, **kwargs})


def test_annotation_matches_the_judge_and_feeds_binarize_and_data_report(raw_input, tmp_path):
    out = tmp_path / "annotated.jsonl"
    with ChatServer(judge_reply) as server:
        report = annotate_file(raw_input, out, config(server, max_in_flight=4), progress=False)
    rows_in, rows_out = read_jsonl(raw_input), read_jsonl(out)
    assert [(r["source"], r["instruction"]) for r in rows_out] == [
        (r["source"], r["instruction"]) for r in rows_in
    ]
    completions = sum(len(r["completions"]) for r in rows_in)
    for row_in, row_out in zip(rows_in, rows_out, strict=True):
        for c_in, c in zip(row_in["completions"], row_out["completions"], strict=True):
            assert {k: c[k] for k in c_in} == c_in
            ratings = {a: c["annotations"][a]["Rating"] for a in ASPECTS}
            assert ratings == {a: str(expected_rating(c["response"], a)) for a in ASPECTS}
            assert c["annotations"]["helpfulness"]["Type"] == ["1", "3"]
            assert c["annotations"]["truthfulness"]["Rationale"] == "relevant\n\nand concise"
            assert c["annotations"]["honesty"]["Rationale"].endswith("\n\nsecond paragraph")
            numbers = [expected_rating(c["response"], a) for a in ASPECTS]
            assert c["fine-grained_score"] == sum(numbers) / 4
            assert c["overall_score"] == expected_overall(c["response"])
            assert c["critique"] == "The answer needs work.\n\nIt should be shorter."
            notes: list[str] = []
            parsed = parse_completion(c, 0, notes)
            assert notes == [] and parsed.mean == c["fine-grained_score"]
    assert report["complete"] and report["rows"] == report["rows_annotated"] == len(rows_in)
    assert report["requests"] == server.requests == 4 * len(rows_in) + completions
    assert report["prompt_tokens"] == server.usage["prompt_tokens"]
    assert report["completion_tokens"] == server.usage["completion_tokens"]
    assert all(not n for n in report["na_by_aspect"].values())
    assert report["settings"]["rubric"] == {"version": "v1", "sha256": RUBRIC.sha256}
    assert json.loads(report_path(out).read_text()) == report
    assert not progress_path(out).exists()
    assert all(b["temperature"] == 0 for b in server.bodies)

    pairs = tmp_path / "pairs"
    assert (
        cli(
            [
                "binarize",
                "--input",
                str(out),
                "--strategy",
                "best-vs-random",
                "--output",
                str(pairs),
                "--test-size",
                "2",
            ]
        )
        == 0
    )
    h4 = read_jsonl(pairs / "train_prefs.jsonl") + read_jsonl(pairs / "test_prefs.jsonl")
    assert h4 and all(p["score_chosen"] >= p["score_rejected"] for p in h4)
    best = {r["instruction"]: max(expected_overall(c["response"]) for c in r["completions"]) for r in rows_in}
    assert all(p["score_chosen"] == best[p["prompt"]] for p in h4)
    assert cli(["data-report", "--input", str(pairs), "--output", str(tmp_path / "plots")]) == 0
    assert (tmp_path / "plots" / "scores.png").is_file()


def test_shuffled_order_is_recorded_by_seed_and_mapped_back(raw_input, tmp_path):
    """Two seeds show the texts in different orders, yet every rating lands on the same completion."""
    shown, reports = [], []
    for seed in (1, 2):
        with ChatServer(judge_reply) as server:
            out = tmp_path / f"s{seed}.jsonl"
            reports.append(annotate_file(raw_input, out, config(server, seed=seed), progress=False))
        shown.append({b["messages"][-1]["content"] for b in server.bodies if "Rubric: honesty" in str(b)})
    assert shown[0] != shown[1]
    assert (tmp_path / "s1.jsonl").read_bytes() == (tmp_path / "s2.jsonl").read_bytes()
    assert [r["settings"]["seed"] for r in reports] == [1, 2]


def test_a_server_that_goes_away_loses_no_row_and_the_rerun_completes_identically(raw_input, tmp_path):
    reference = tmp_path / "reference.jsonl"
    with ChatServer(judge_reply) as server:
        annotate_file(raw_input, reference, config(server), progress=False)
    out = tmp_path / "annotated.jsonl"
    with ChatServer(judge_reply, schedule=["ok"] * 20 + ["drop"] * 10_000) as server:
        report = annotate_file(raw_input, out, config(server, retries=1, max_in_flight=2), progress=False)
    assert not report["complete"] and not out.exists()
    assert report["rows_failed"] > 0 and report["row_failures_by_reason"] == {
        "connection": report["rows_failed"]
    }
    assert report["rows_annotated"] + report["rows_failed"] == report["rows"]
    assert report["failures_by_reason"]["connection"] >= report["rows_failed"]
    done = report["rows_annotated"]
    with ChatServer(judge_reply) as server:
        report = annotate_file(raw_input, out, config(server, retries=1, max_in_flight=2), progress=False)
    assert report["complete"] and report["rows_resumed"] == done
    assert report["rows_annotated"] == report["rows"] - done
    assert out.read_bytes() == reference.read_bytes()


RESUME_SCRIPT = """
import sys
from align.config.annotate import AnnotateConfig
from align.pipeline.judge.annotate import annotate_file
cfg = AnnotateConfig(judge={"base_url": sys.argv[3], "model": "test-judge"}, max_in_flight=2)
annotate_file(sys.argv[1], sys.argv[2], cfg, progress=False)
"""


def test_sigint_then_resume_writes_the_same_file_as_an_uninterrupted_run(raw_input, tmp_path):
    reference = tmp_path / "reference.jsonl"
    with ChatServer(judge_reply) as server:
        annotate_file(raw_input, reference, config(server, max_in_flight=2), progress=False)
    out = tmp_path / "annotated.jsonl"
    journal = progress_path(out)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with ChatServer(judge_reply, delay=0.15) as server:
        proc = subprocess.Popen(
            [sys.executable, "-c", RESUME_SCRIPT, str(raw_input), str(out), server.base_url], env=env
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (not journal.exists() or journal.read_text().count("\n") < 4):
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) != 0
    assert not out.exists()
    entries = [json.loads(line) for line in journal.read_text().split("\n")[1:] if line]
    assert 3 <= len(entries) < 10
    keys = [e["key"] for e in entries]
    assert len(set(keys)) == len(keys)
    with journal.open("a") as f:  # as if the process had been killed in the middle of a write
        f.write('{"key": "abc", "row": {"sou')
    with ChatServer(judge_reply) as server:
        report = annotate_file(raw_input, out, config(server, max_in_flight=2), progress=False)
    rows = read_jsonl(raw_input)
    left = [r for r, k in zip(rows, row_keys(rows), strict=True) if k not in keys]
    assert server.requests == sum(4 + len(r["completions"]) for r in left)  # no row annotated twice
    assert report["complete"] and report["rows_resumed"] == len(entries)
    assert report["rows_resumed"] + report["rows_annotated"] == report["rows"] == 10
    assert out.read_bytes() == reference.read_bytes()


def test_changed_settings_do_not_mix_into_an_earlier_progress_file(raw_input, tmp_path):
    out = tmp_path / "annotated.jsonl"
    with ChatServer(judge_reply, schedule=["ok"] * 10 + ["500"] * 10_000) as server:
        first = annotate_file(raw_input, out, config(server, retries=0), progress=False)
    assert not first["complete"]
    with ChatServer(judge_reply) as server:
        with pytest.raises(AlignError, match="other settings"):
            annotate_file(raw_input, out, config(server, seed=7), progress=False)
        assert annotate_file(raw_input, out, config(server, seed=7), overwrite=True, progress=False)[
            "complete"
        ]
        with pytest.raises(AlignError, match="already exists"):
            annotate_file(raw_input, out, config(server, seed=7), progress=False)


def test_annotation_through_transformers_serve(raw_input, tmp_path, monkeypatch):
    """A real OpenAI-compatible server: `transformers serve` with tiny://llama. Its replies are noise, so
    every rating is N/A; the run must still complete, count them, and write rows binarize's schema reads."""
    from align.models.tiny import resolve
    from align.pipeline.local_server import local_server

    model = resolve("tiny://llama")
    rows = read_jsonl(raw_input)[:1]
    for row in rows:
        row["completions"] = row["completions"][:2]
    small = write_jsonl(tmp_path / "small.jsonl", rows)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    with local_server(model, tmp_path / "serve.log", start_timeout=180) as url:
        cfg = config(url, judge={"model": model, "max_tokens": 8, "critique_max_tokens": 8})
        report = annotate_file(small, tmp_path / "out.jsonl", cfg, progress=False)
    out = read_jsonl(tmp_path / "out.jsonl")
    assert report["complete"] and report["requests"] == report["succeeded"] == 4 + 2
    assert report["completion_tokens"] > 0 and report["prompt_tokens"] > 0
    na = sum(sum(c.values()) for c in report["na_by_aspect"].values())
    ratings = [c["annotations"][a]["Rating"] for r in out for c in r["completions"] for a in ASPECTS]
    assert na == sum(r == "N/A" for r in ratings)
    for i, row in enumerate(out):
        assert {"source", "instruction", "models", "completions"} <= set(row)
        for j, completion in enumerate(row["completions"]):
            notes: list[str] = []
            assert parse_completion(completion, j, notes) is not None
            assert all(n.startswith(("ratings.", "overall_score.")) for n in notes)
            assert completion["response"] == rows[i]["completions"][j]["response"]
