"""`align binarize` and `align data-report` end to end: determinism, filters, reports, user errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from align.cli import main
from align.data.synthetic import generate_raw
from align.jsonl import write_jsonl

FILES = ("train_prefs.jsonl", "test_prefs.jsonl", "report.json")


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("raw") / "raw.jsonl", generate_raw(2000, seed=11))


def binarize(raw: Path, out: Path, *extra: str) -> int:
    return main(["binarize", "--input", str(raw), "--output", str(out), "--test-size", "100", *extra])


@pytest.mark.parametrize("strategy", ["best-vs-random", "all-pairs"])
def test_num_proc_does_not_change_a_byte(raw, tmp_path, strategy):
    for n in ("1", "2"):
        assert binarize(raw, tmp_path / n, "--strategy", strategy, "--num-proc", n) == 0
    for name in FILES:
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name


def test_same_seed_same_output_other_seed_other_draws(raw, tmp_path):
    for name, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        assert binarize(raw, tmp_path / name, "--strategy", "best-vs-random", "--seed", seed) == 0
    a, b, c = ((tmp_path / n / "train_prefs.jsonl").read_bytes() for n in "abc")
    assert a == b != c


def test_summary_and_report(raw, tmp_path, capsys):
    assert binarize(raw, tmp_path, "--strategy", "curated-mean", "--score", "helpfulness") == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "report.json").read_text())
    assert f"read {report['rows_read']} rows" in printed and "dropped rows:" in printed
    assert report["settings"]["score"] == "helpfulness"
    assert report["rows_written"]["test_prefs"] == 100
    assert {"fewer_than_2_completions", "fewer_than_2_rankable", "no_strictly_lower"} <= set(
        report["dropped_rows"]
    )
    assert {"na", "missing", "unparsable"} <= set(report["ratings"])
    assert report["completions"]["unrankable"]["empty_response"] > 0
    suspects = report["overall_score_bug_suspects"]
    assert suspects["count"] > 0 and not suspects["dropped"]
    assert all(e["overall_score"] == 10 and e["mean_rating"] <= 2 for e in suspects["examples"])


def test_bad_rows_are_counted_not_fatal(tmp_path, capsys):
    good = generate_raw(30, seed=3)
    lines = [json.dumps(r) for r in good]
    lines[3:3] = ["{not json", "[1, 2]", "", '{"source": "flan", "instruction": 5, "completions": []}']
    lines.append('{"source": "flan", "instruction": "x", "completions": [{"response": "\\ud800"}, "c"]}')
    path = tmp_path / "raw.jsonl"
    path.write_text("\n".join(lines) + "\n")  # a byte that is not UTF-8 refuses the file (test_bad_inputs.py)
    argv = [
        "binarize",
        "--input",
        str(path),
        "--strategy",
        "best-vs-random",
        "--output",
        str(tmp_path / "out"),
    ]
    assert main([*argv, "--test-size", "0"]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["rows_read"] == len(good) + 4  # the blank line is not a row
    assert report["dropped_rows"]["invalid_json"] == 1
    assert report["dropped_rows"]["not_an_object"] == 1
    assert report["dropped_rows"]["malformed_row"] >= 1
    assert report["completions"]["unrankable"]["malformed"] >= 2
    assert not (tmp_path / "out" / "test_prefs.jsonl").exists()


@pytest.mark.parametrize("kind", ["txt", "jsonl", "json"])
def test_decontaminate_with_local_question_file(tmp_path, kind, capsys):
    rows = [r for r in generate_raw(400, seed=4) if isinstance(r, dict) and "completions" in r]
    questions = [r["instruction"] for r in rows if r["source"] != "truthful_qa"][:25]
    qfile = tmp_path / f"questions.{kind}"
    if kind == "txt":
        qfile.write_text("\n".join(questions) + "\n")
    elif kind == "jsonl":
        qfile.write_text("".join(json.dumps({"question": q, "best_answer": "a"}) + "\n" for q in questions))
    else:
        qfile.write_text(json.dumps([{"question": q} for q in questions]))
    raw = write_jsonl(tmp_path / "raw.jsonl", rows)
    out = tmp_path / "out"
    assert binarize(raw, out, "--strategy", "best-vs-random", "--decontaminate", str(qfile)) == 0
    report = json.loads((out / "report.json").read_text())
    kept = [json.loads(line) for f in ("train_prefs", "test_prefs") for line in (out / f"{f}.jsonl").open()]
    assert not {p["prompt"] for p in kept} & set(questions)
    assert not any(p["source"] == "truthful_qa" for p in kept)
    n_source = sum(r["source"] == "truthful_qa" and r["instruction"].strip() != "" for r in rows)
    assert report["dropped_rows"]["truthful_qa_source"] == n_source > 0
    assert report["dropped_rows"]["truthful_qa_question"] == sum(
        r["instruction"] in set(questions) for r in rows
    )


def test_question_file_without_question_field(tmp_path, capsys):
    qfile = tmp_path / "q.jsonl"
    qfile.write_text('{"prompt": "x"}\n')
    raw = write_jsonl(tmp_path / "raw.jsonl", generate_raw(50, seed=1))
    assert binarize(raw, tmp_path / "out", "--strategy", "best-vs-random", "--decontaminate", str(qfile)) == 2
    err = capsys.readouterr().err
    assert str(qfile) in err and "`question`" in err


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet"])
def test_wrong_columns_name_file_and_fields(tmp_path, suffix, capsys):
    import datasets

    path = tmp_path / f"not_ultrafeedback{suffix}"
    rows = [{"prompt": "hi", "chosen": "a", "rejected": "b"}] * 3
    if suffix == ".parquet":
        datasets.Dataset.from_list(rows).to_parquet(str(path))
    elif suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert binarize(path, tmp_path / "out", "--strategy", "best-vs-random") == 2
    err = capsys.readouterr().err
    assert str(path) in err and "source, instruction, completions" in err and "Traceback" not in err


def test_parquet_and_json_inputs_match_jsonl(tmp_path):
    import datasets

    rows = [r for r in generate_raw(300, seed=9) if isinstance(r, dict) and "completions" in r]
    for r in rows:  # parquet needs one type per column: keep the schema's string ratings and list Types
        r["completions"] = [
            c for c in r["completions"] if isinstance(c, dict) and isinstance(c.get("overall_score"), float)
        ]
        for c in r["completions"]:
            for entry in c["annotations"].values():
                entry["Rating"] = entry["Rating"] if isinstance(entry["Rating"], str) else "N/A"
                if "Type" in entry:
                    entry["Type"] = entry["Type"] if isinstance(entry["Type"], list) else ["None"]
    write_jsonl(tmp_path / "raw.jsonl", rows)
    (tmp_path / "raw.json").write_text(json.dumps(rows))
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "raw.parquet"))
    for name in ("raw.jsonl", "raw.json", "raw.parquet"):
        assert binarize(tmp_path / name, tmp_path / name.replace(".", "_"), "--strategy", "curated-mean") == 0
    ref = (tmp_path / "raw_jsonl" / "train_prefs.jsonl").read_bytes()
    assert ref and all(
        (tmp_path / d / "train_prefs.jsonl").read_bytes() == ref for d in ("raw_json", "raw_parquet")
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--test-size", "100000"], "leaves nothing to train on"),
        (["--input", "missing.jsonl"], "missing.jsonl does not exist"),
        (["--input", "sample://nope"], "sample://ultrafeedback"),
        (["--min-margin", "-1"], "--min-margin"),
    ],
)
def test_user_errors_exit_2_with_one_paragraph(tmp_path, capsys, args, needle):
    argv = [
        "binarize",
        "--input",
        "sample://ultrafeedback",
        "--strategy",
        "all-pairs",
        "--output",
        str(tmp_path),
    ]
    assert main(argv + args) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_unknown_strategy_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["binarize", "--input", "x", "--output", "y", "--strategy", "random-vs-best"])
    assert exc.value.code == 2 and "best-vs-random" in capsys.readouterr().err


def test_data_report_writes_pngs(tmp_path, capsys):
    out = tmp_path / "bin"
    argv = [
        "binarize",
        "--input",
        "sample://ultrafeedback",
        "--strategy",
        "best-vs-random",
        "--output",
        str(out),
    ]
    assert main([*argv, "--test-size", "20"]) == 0
    for source, plots in ((out, tmp_path / "plots"), (out / "test_prefs.jsonl", tmp_path / "plots_test")):
        assert main(["data-report", "--input", str(source), "--output", str(plots)]) == 0
        for name in ("scores.png", "margin.png", "lengths.png", "chosen_models.png"):
            assert (plots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "chosen longer than rejected" in capsys.readouterr().out
    assert main(["data-report", "--input", "sample://ultrafeedback", "--output", str(tmp_path / "p")]) == 2
