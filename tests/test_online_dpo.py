"""Online DPO: the judge scores in the reward model's own template, the length penalty is what it says,
the smoke recipe runs end to end (and resumes), and `align check` plans it.

The slow test trains the smoke reward model and checks that online DPO against it raises the held-out mean
reward: `pytest -m slow tests/test_online_dpo.py`.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics

import pytest
import torch

from align.cli import main
from align.config import load_recipe
from align.config.recipe import RewardModelConfig
from align.errors import AlignError
from align.methods import online_dpo
from align.methods.online_reward import OracleReward
from align.methods.reward_oracle import PromptIndex, load_oracle
from align.models.loading import load_tokenizer
from align.rundir.outputs import read_metrics
from repo_paths import REPO

SMOKE = REPO / "recipes/smoke/online-dpo.yaml"
LONG = REPO / "recipes/smoke/online-dpo-long.yaml"
PROMPTS = ["Name a colour.", "What is 2 + 2?", "Write a haiku about rain."]
ANSWERS = [
    "Blue.",
    "It is four, of course.",
    "Grey clouds gather\nsoft drops on the window pane\nthe garden drinks deep",
]

pytestmark = pytest.mark.usefixtures("tiny_cpu")


def judge(template: str | None, length_penalty: float = 0.0) -> tuple[OracleReward, object]:
    """The judge of tiny://ultralm's samples by tiny://llama-rm (another tokenizer), and the policy tokenizer."""
    policy_tokenizer = load_tokenizer(load_recipe(SMOKE).model)
    cfg = RewardModelConfig(name_or_path="tiny://llama-rm", dtype="float32", template=template)
    oracle = load_oracle(cfg, policy_tokenizer, PromptIndex([], []), batch_size=2)
    eos, pad = policy_tokenizer.eos_token_id, policy_tokenizer.pad_token_id
    return OracleReward(oracle, length_penalty, eos, pad), policy_tokenizer


def direct_scores(texts: list[str]) -> list[float]:
    """Each text scored alone (no padding) by the reward model, loaded with transformers directly."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from align.models.tiny import resolve

    model = AutoModelForSequenceClassification.from_pretrained(
        resolve("tiny://llama-rm"), dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(resolve("tiny://llama-rm"))
    with torch.no_grad():
        return [model(**tokenizer(t, return_tensors="pt")).logits[0, 0].item() for t in texts]


@pytest.mark.parametrize("template", ["chat", "ultrarm"])
def test_judge_scores_each_sample_in_the_reward_models_own_template(template):
    reward, policy_tokenizer = judge(template)
    # TRL passes the policy's rendered prompts, the decoded completions and the dataset's `instruction` column
    rendered = [
        policy_tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False)
        for p in PROMPTS
    ]
    ids = [policy_tokenizer(a, add_special_tokens=False)["input_ids"] for a in ANSWERS]
    got = reward(
        prompts=rendered, completions=ANSWERS, completion_ids=ids, instruction=PROMPTS, trainer_state=None
    )

    if template == "chat":  # the reward model's Zephyr layout, from its tokenizer's own chat template
        from transformers import AutoTokenizer

        from align.models.tiny import resolve

        rm_tokenizer = AutoTokenizer.from_pretrained(resolve("tiny://llama-rm"))
        texts = [
            rm_tokenizer.apply_chat_template(
                [{"role": "user", "content": p}, {"role": "assistant", "content": a}], tokenize=False
            )
            for p, a in zip(PROMPTS, ANSWERS, strict=True)
        ]
        assert all(t.startswith("<|user|>\n") for t in texts)
    else:  # the UltraRM card's layout
        texts = [f"Human: {p}\n\nAssistant: {a}" for p, a in zip(PROMPTS, ANSWERS, strict=True)]
    assert got == pytest.approx(direct_scores(texts), abs=1e-5)
    assert reward.stats.rewards == got and reward.stats.lengths == [len(row) for row in ids]


def test_length_penalty_subtracts_a_fixed_amount_per_generated_token():
    penalty = 0.05
    plain, policy_tokenizer = judge(None)
    penalised, _ = judge(None, length_penalty=penalty)
    eos, pad = policy_tokenizer.eos_token_id, policy_tokenizer.pad_token_id
    assert eos != pad
    body = [policy_tokenizer(a, add_special_tokens=False)["input_ids"] for a in ANSWERS]
    # as TRL hands them over: text then EOS then padding; a completion cut at max_new_tokens has no EOS
    completion_ids = [body[0] + [eos, pad, pad], body[1] + [eos], body[2]]
    generated = [len(body[0]), len(body[1]), len(body[2])]  # tokens before the EOS, counted by construction
    prompts = ["p"] * 3
    raw = plain(prompts=prompts, completions=ANSWERS, completion_ids=completion_ids, instruction=PROMPTS)
    shaped = penalised(
        prompts=prompts, completions=ANSWERS, completion_ids=completion_ids, instruction=PROMPTS
    )
    assert shaped == pytest.approx([r - penalty * n for r, n in zip(raw, generated, strict=True)])
    assert penalised.stats.rewards == raw  # the logged reward stays the reward model's


def test_chosen_rejected_gap_follows_the_shaped_ranking():
    """Two samples per prompt (first halves, then second halves): the gap is chosen minus rejected in RM units."""
    penalty = 10.0  # large enough that the shorter answer always wins the shaped ranking
    reward, policy_tokenizer = judge(None, length_penalty=penalty)
    short, long = "Yes.", "Yes, certainly, and here is a much longer answer than the other one."
    ids = [policy_tokenizer(t, add_special_tokens=False)["input_ids"] for t in (short, long, long, short)]
    raw = reward.oracle.rewards(["Q1", "Q2", "Q1", "Q2"], [short, long, long, short])
    reward(
        prompts=[""] * 4,
        completions=[short, long, long, short],
        completion_ids=ids,
        instruction=["Q1", "Q2"] * 2,
    )
    # prompt Q1: sample 0 (short) is chosen over sample 2; prompt Q2: sample 3 (short) over sample 1
    assert reward.stats.gaps == pytest.approx([raw[0] - raw[2], raw[3] - raw[1]])


def test_smoke_recipe_runs_end_to_end_and_resumes(tmp_path):
    out = tmp_path / "run"
    penalty = 0.01
    overrides = [f"output_dir={out}", f"method.length_penalty={penalty}"]
    assert main(["run", str(SMOKE), *overrides]) == 0

    rows = read_metrics(out)
    train = [r for r in rows if "reward/mean" in r]
    assert [r["step"] for r in train] == [1, 2, 3, 4]
    for row in train:
        assert all(
            math.isfinite(row[k]) for k in ("reward/mean", "reward/median", "length/mean", "objective/kl")
        )
        # TRL ranked (and logged as objective/scores) the shaped rewards the judge returned
        assert row["objective/scores"] == pytest.approx(
            row["reward/mean"] - penalty * row["length/mean"], abs=1e-5
        )
        assert row["reward/shaped_mean"] == pytest.approx(row["objective/scores"], abs=1e-5)
        assert 0 < row["length/mean"] <= 16  # max_new_tokens
    evals = [r for r in rows if "eval_reward" in r]
    assert [r["step"] for r in evals] == [0, 2, 4, 4]  # before, every eval_steps, after
    assert evals[0]["eval_kl"] == 0  # the policy is the reference before the first step
    assert evals[-1]["eval_kl"] != 0

    summary = json.loads((out / "summary.json").read_text())
    assert summary["optimizer_steps"] == 4 and summary["train_pairs"] == 32 and summary["eval_pairs"] == 8
    for key in online_dpo.SUMMARY_KEYS:
        assert summary[f"before/{key}"] == pytest.approx(evals[0][f"eval_{key}"])
        assert summary[f"after/{key}"] == pytest.approx(evals[-1][f"eval_{key}"])
    for plot in ("reward", "completion_length", "kl_to_reference", "chosen-rejected_reward_gap"):
        assert (out / "plots" / f"{plot}.png").is_file()
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    card = (out / "README.md").read_text()
    assert "tiny://llama-rm" in card and "'chat'" in card and "before/reward" in card

    # a run stopped after step 2 resumes from TRL's checkpoint and reports the whole run
    shutil.rmtree(out / "checkpoint-4")
    (out / "summary.json").unlink()
    assert main(["run", str(SMOKE), *overrides]) == 0
    resumed = json.loads((out / "summary.json").read_text())
    assert resumed["resumed_from"].endswith("checkpoint-2") and resumed["optimizer_steps"] == 4
    assert resumed["before/reward"] == summary["before/reward"]
    assert [r["step"] for r in read_metrics(out) if "reward/mean" in r] == [1, 2, 3, 4]


def test_vllm_is_refused_without_a_cuda_gpu(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    recipe = load_recipe(SMOKE, [f"output_dir={tmp_path}", "method.engine=vllm"])
    with pytest.raises(AlignError, match="no CUDA GPU"):
        online_dpo.sampler(recipe.method)
    assert online_dpo.sampler(load_recipe(SMOKE, ["method.engine=auto"]).method) == "hf"


def test_trainer_fields_align_sets_itself_are_refused():
    with pytest.raises(AlignError, match="use_vllm"):
        load_recipe(SMOKE, ["method.trainer.use_vllm=true"])
    with pytest.raises(AlignError, match="reward_model_path"):
        load_recipe(SMOKE, ["method.trainer.reward_model_path=x"])
    # OnlineDPOConfig's beta is a per-epoch list; one number is accepted as such, a negative one is not
    assert load_recipe(SMOKE, ["method.trainer.beta=0.2"]).method.trainer["beta"] == [0.2]
    with pytest.raises(AlignError, match="beta"):
        load_recipe(SMOKE, ["method.trainer.beta=[0.1, -1]"])


def test_check_plans_prompts_samples_steps_and_memory(capsys):
    assert main(["check", str(SMOKE), "--quiet"]) == 0
    out = capsys.readouterr().out
    plan = dict(line.strip().split(": ", 1) for line in out.splitlines() if ": " in line)
    assert plan["prompts"].startswith("32 to train on + 8 held out")
    assert plan["samples per step"].startswith("16 (8 prompts x 2 completions of up to 16 tokens)")
    assert plan["optimizer steps"] == "4 (1 epochs of 4)"
    assert plan["reward evaluation"].startswith("16 samples (8 held-out prompts x 2)")
    assert "1 trained + 2 frozen" in plan["memory"]  # policy; reference and reward model resident


@pytest.mark.slow
def test_held_out_reward_rises_against_the_smoke_reward_model(tmp_path):
    reward_dir, out = tmp_path / "reward", tmp_path / "online-dpo"
    assert main(["run", "recipes/smoke/reward.yaml", f"output_dir={reward_dir}"]) == 0
    assert main(["run", str(LONG), f"output_dir={out}", f"reward_model.name_or_path={reward_dir}"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    curve = [r["eval_reward"] for r in read_metrics(out) if "eval_reward" in r]
    train = [r["reward/mean"] for r in read_metrics(out) if "reward/mean" in r]
    print(
        f"held-out reward {summary['before/reward']:.3f} -> {summary['after/reward']:.3f} (curve "
        f"{[round(c, 3) for c in curve]}); sample reward first 5 steps {statistics.fmean(train[:5]):.3f}, last 5 "
        f"{statistics.fmean(train[-5:]):.3f}; length {summary['before/length']:.1f} -> {summary['after/length']:.1f}"
    )
    assert summary["after/reward"] > summary["before/reward"] + 0.1
