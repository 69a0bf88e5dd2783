"""`--help` answers what a new user asks first: where outputs go, how to resume or start over, what each option does."""

from __future__ import annotations

import argparse

import pytest

from align.cli import build_parser, main
from repo_paths import REPO


def _subparser(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def test_run_help_says_where_outputs_go_and_how_resume_works(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for phrase in (
        "output_dir",
        "checkpoint-N",
        "metrics.jsonl",
        "README.md",
        "method.resume=false",
        "continues",
    ):
        assert phrase in text, phrase


def test_every_best_of_n_option_has_help_and_shows_its_default():
    from align.config.recipe import BestOfNMethod

    parser = _subparser("best-of-n")
    help_text = " ".join(parser.format_help().split())
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, action.dest
    # the method's flags show the defaults the recipe section declares
    fields = BestOfNMethod.model_fields
    for action in parser._actions:
        if action.dest not in fields or action.default is not argparse.SUPPRESS:
            continue  # not a method field's flag (e.g. --prompts, a file)
        default = fields[action.dest].get_default(call_default_factory=True)
        if default not in (None, False):
            assert f"(default: {default})" in help_text, action.dest


def test_the_readme_own_model_and_data_recipe_checks(tmp_path, monkeypatch, capsys):
    """The README's `my-dpo.yaml` and its one-line pair format, checked as written (the model swapped for a tiny one)."""
    import json
    import re

    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### Your own model and data") :]
    pair = re.search(r"```json\n(.*?)\n```", section, re.S).group(1)
    recipe = re.search(r"```yaml\n(.*?)\n```", section, re.S).group(1)
    folder = tmp_path / "data/my-pairs"
    folder.mkdir(parents=True)
    row = json.loads(pair)
    rows = [{**row, "prompt": f"{row['prompt']} ({i})"} for i in range(40)]
    (folder / "train_prefs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "my-dpo.yaml").write_text(recipe)
    monkeypatch.chdir(tmp_path)
    assert main(["check", "my-dpo.yaml", "--quiet", "model.name_or_path=tiny://llama"]) == 0
    out = capsys.readouterr().out
    assert "train rows: 32" in out  # 40 pairs, test_size 8 held out
