"""Iterative (on-policy) DPO: T rounds of sample K per prompt -> rank with the reward model -> DPO on the pairs.

Each round reuses what align already has: best-of-N's sampler (transformers' generate sharded over the
processes, or vLLM), the reward oracle (the reward model scores in its own template and tokenizer), the
binarization strategies (best-vs-worst by default, `min_margin`, ties give no pair) and the DPO wiring of
`method: dpo` (align.methods.dpo.build_trainer and run_trainer, so TRL's DPOTrainer, checkpoints and
resume work as in a plain DPO run). The run folder makes every step restartable:

    output_dir/iteration-0/eval.jsonl          held-out samples of the initial policy, with rewards
    output_dir/iteration-0/iteration.json      its metrics (the done-marker of iteration 0)
    output_dir/iteration-K/samples.jsonl       K samples per training prompt from the policy iteration K starts from
    output_dir/iteration-K/pairs/              the ranked pairs (H4 format: `align data-report` reads it)
    output_dir/iteration-K/train/              the DPO run: checkpoint-N while training, then the policy
    output_dir/iteration-K/eval.jsonl          held-out samples of the new policy, with rewards
    output_dir/iteration-K/iteration.json      the iteration's metrics, written last (its done-marker)
    output_dir/iterations.{jsonl,md}           the metrics of every iteration; plots/reward_and_length.png
    output_dir/summary.json, README.md         and the final policy's weights

A rerun skips finished iterations, reuses the samples of the interrupted one (each iteration samples from
its own seed, so they are the ones a fresh run would draw) and resumes its DPO from the newest checkpoint.
Held-out prompts are sampled with the same seed for every policy, so iterations are compared on the same
random draws.
"""

from __future__ import annotations

import gc
import json
import shutil
import statistics
from pathlib import Path
from typing import Any

from align.config.recipe import DataConfig, DPOMethod, ModelConfig, Recipe
from align.data.binarize import pair_record, row_rng
from align.data.filters import clean_pairs
from align.data.schema import Completion
from align.data.strategies import STRATEGIES, Candidate, Drop
from align.errors import AlignError
from align.inputs import require_reward_model
from align.jsonl import read_jsonl, write_jsonl
from align.methods import dpo
from align.methods.best_of_n import free_accelerator_memory, sample_share
from align.methods.prompts import PromptSet, load_prompts
from align.methods.reward_oracle import PromptIndex, load_oracle
from align.methods.training import run_trainer
from align.models.loading import load_causal_lm, load_tokenizer
from align.rundir.outputs import prepare_run, write_summary

DONE_FILE = "iteration.json"
EVAL_SEED_OFFSET = 7_919  # held-out sampling: one seed for every policy (common random numbers)
ITERATION_SEED_STRIDE = 104_729  # training samples: a seed of their own per iteration
# Per-iteration metrics repeated in summary.json and the model card (all of them: iterations.jsonl).
SUMMARY_KEYS = (
    "eval_mean_reward",
    "eval_median_reward",
    "eval_mean_length",
    "eval_kl_to_reference",
    "sample_mean_reward",
    "sample_median_reward",
    "pair_mean_gap",
)
# Our own files in an iteration's train/ folder are not part of the policy copied to output_dir.
NOT_POLICY = {"metrics.jsonl", "summary.json", "README.md", "recipe.resolved.yaml", "training_args.bin"}


class Layout:
    """Where each iteration's files live (module docstring)."""

    def __init__(self, output_dir: str | Path):
        self.out = Path(output_dir)

    def iteration(self, k: int) -> Path:
        return self.out / f"iteration-{k}"

    def samples(self, k: int) -> Path:
        return self.iteration(k) / "samples.jsonl"

    def pairs(self, k: int) -> Path:
        return self.iteration(k) / "pairs"

    def train(self, k: int) -> Path:
        return self.iteration(k) / "train"

    def eval(self, k: int) -> Path:
        return self.iteration(k) / "eval.jsonl"

    def done(self, k: int) -> Path:
        return self.iteration(k) / DONE_FILE


def check_supported(recipe: Recipe) -> None:
    """Each iteration starts from the previous one's full weights: adapters and quantized bases are not chained."""
    if recipe.model.lora or recipe.model.quantization:
        raise AlignError(
            f"Recipe {recipe.name!r}: method iterative-dpo trains full weights (each iteration starts from the "
            "previous one's saved policy), so model.lora and model.quantization are not supported. Remove them, "
            "or merge an adapter into the base first and train that."
        )


def prompt_slices(prompts: PromptSet, recipe: Recipe) -> tuple[PromptSet, list[PromptSet]]:
    """(held-out prompts, training prompts of each iteration) from the shuffled prompt set."""
    method = recipe.method
    held, rest = method.eval_prompts, len(prompts.prompts) - method.eval_prompts
    per = method.prompts_per_iteration
    if method.prompt_schedule == "split":
        per = per or rest // method.iterations
        need = per * method.iterations
    else:
        per = per or rest
        need = per
    if per < 1 or need > rest:
        raise AlignError(
            f"Recipe {recipe.name!r}: {len(prompts.prompts)} prompts ({prompts.describe()}) cannot give "
            f"method.eval_prompts={held} held-out prompts and {method.iterations} iteration(s) of "
            f"{per or 'any'} prompts ({method.prompt_schedule}). Lower method.eval_prompts or "
            "method.prompts_per_iteration, or use more prompts (method.prompts.max_prompts)."
        )

    def part(start: int, stop: int) -> PromptSet:
        return PromptSet(prompts.prompts[start:stop], prompts.ids[start:stop])

    starts = [held + (i * per if method.prompt_schedule == "split" else 0) for i in range(method.iterations)]
    return part(0, held), [part(s, s + per) for s in starts]


def policy_config(recipe: Recipe, layout: Layout, k: int) -> ModelConfig:
    """The policy after iteration k (k = 0: the recipe's model)."""
    if k == 0:
        return recipe.model
    return recipe.model.model_copy(
        update={
            "name_or_path": str(layout.train(k)),
            "revision": None,
            "tokenizer": None,
            "adapter": None,
            "adapter_revision": None,
        }
    )


def sample_and_score(
    recipe: Recipe, policy: ModelConfig, prompts: PromptSet, n: int, seed: int, tokenizer: Any
) -> tuple[list[list[str]], list[list[float]], Any]:
    """n samples per prompt from `policy` and their rewards, in prompt order, on every process.

    Returns (samples, rewards, oracle template). Each process samples and scores its blocks of
    prompts (best-of-N's sharding, so the result does not depend on the number of processes).
    """
    from accelerate.utils import gather_object

    method = recipe.method
    run = recipe.model_copy(update={"model": policy, "seed": seed})
    share, samples, device = sample_share(run, prompts, tokenizer, n)
    oracle = load_oracle(
        recipe.reward_model,
        tokenizer,
        PromptIndex([], []),
        method.reward_batch_size,
        device=str(device) if device is not None else None,
    )
    scored, done = [], 0
    for block in share:
        block_samples = samples[done : done + len(block)]
        flat = oracle.rewards(
            [prompts.prompts[i] for i, s in zip(block, block_samples, strict=True) for _ in s],
            [r for s in block_samples for r in s],
        )
        scored.append((block.start, block_samples, [flat[i : i + n] for i in range(0, len(flat), n)]))
        done += len(block)
    template = oracle.template
    del oracle
    free_accelerator_memory()
    gathered = sorted(gather_object(scored), key=lambda item: item[0])
    return (
        [s for _, block_samples, _ in gathered for s in block_samples],
        [r for _, _, block_rewards in gathered for r in block_rewards],
        template,
    )


def ranking_score(reward: float, response: str, length_penalty: float) -> float:
    """What samples are ranked by: the reward, less length_penalty per character (RLHFlow's max_min_p)."""
    return reward - length_penalty * len(response)


def build_pairs(
    prompts: list[str], samples: list[list[str]], rewards: list[list[float]], recipe: Recipe, model_name: str
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """H4 pair records from ranked samples, with binarize's strategies, min_margin and tie rules; and drop counts."""
    method = recipe.method
    records, dropped = [], {}
    for index, (prompt, texts, values) in enumerate(zip(prompts, samples, rewards, strict=True)):
        cands = [
            Candidate(
                Completion(j, model_name, text, None, (), None),
                ranking_score(value, text, method.length_penalty),
            )
            for j, (text, value) in enumerate(zip(texts, values, strict=True))
        ]
        notes: list[str] = []
        try:
            picked = STRATEGIES[method.strategy].pick(cands, row_rng(recipe.seed, index, prompt))
        except Drop as exc:
            dropped[exc.reason] = dropped.get(exc.reason, 0) + 1
            continue
        kept = clean_pairs(picked, method.min_margin, notes)
        for note in notes:
            reason = note.split(".", 1)[1]
            dropped[reason] = dropped.get(reason, 0) + 1
        records += [
            pair_record(
                prompt,
                "",
                (a.completion.response, a.score, model_name),
                (b.completion.response, b.score, model_name),
            )
            for a, b in kept
        ]
    return records, dropped


def iteration_recipe(recipe: Recipe, layout: Layout, k: int) -> Recipe:
    """The plain DPO recipe iteration k trains: the current policy on this iteration's pairs."""
    method = recipe.method
    return Recipe(
        name=f"{recipe.name}-iteration-{k}",
        description=f"Iteration {k} of {recipe.name} (iterative DPO).",
        output_dir=str(layout.train(k)),
        seed=recipe.seed,
        model=policy_config(recipe, layout, k - 1),
        data=DataConfig(path=str(layout.pairs(k)), format="binarized", test_split=None),
        method=DPOMethod(
            name="dpo",
            global_batch_size=method.global_batch_size,
            max_prompt_length=method.max_prompt_length,
            truncation=method.truncation,
            trainer=method.trainer,
            resume=method.resume,
        ),
        launch=recipe.launch,
    )


def sequence_log_ratio(policy: Any, reference: Any, prompt_ids: list[int], response_ids: list[int]) -> float:
    """log pi(y|x) - log pi_ref(y|x) of one response; its mean over samples of pi estimates KL(pi || pi_ref)."""
    import torch

    if not response_ids:
        return 0.0
    ids = torch.tensor([prompt_ids + response_ids], device=policy.device)
    start = len(prompt_ids)
    total = 0.0
    for model, sign in ((policy, 1.0), (reference, -1.0)):
        logits = model(input_ids=ids.to(model.device)).logits[0, start - 1 : -1].float()
        logp = torch.log_softmax(logits, dim=-1).gather(1, ids[0, start:, None].to(logits.device))
        total += sign * float(logp.sum())
    return total


def kl_to_reference(
    recipe: Recipe,
    policy: ModelConfig,
    reference: ModelConfig,
    prompts: PromptSet,
    samples: list[list[str]],
    tokenizer: Any,
) -> float:
    """Monte-Carlo KL(policy || reference) on the held-out samples (responses re-tokenized)."""
    import torch

    from align.processes import state

    processes = state()
    device = processes.device if processes.device.type != "cpu" else None
    models = [load_causal_lm(cfg) for cfg in (policy, reference)]
    for model in models:
        model.eval()
        if device is not None:
            model.to(device)
    ratios = []
    with torch.inference_mode():
        for i in range(processes.process_index, len(prompts.ids), processes.num_processes):
            for text in samples[i]:
                response = tokenizer(text, add_special_tokens=False)["input_ids"]
                ratios.append(sequence_log_ratio(*models, prompts.ids[i], response))
    del models
    free_accelerator_memory()
    from accelerate.utils import gather_object

    values = gather_object(ratios)
    return statistics.fmean(values) if values else 0.0


def describe_samples(rewards: list[list[float]], samples: list[list[str]], prefix: str) -> dict[str, float]:
    flat = [r for row in rewards for r in row]
    return {
        f"{prefix}_mean_reward": statistics.fmean(flat),
        f"{prefix}_median_reward": statistics.median(flat),
        f"{prefix}_mean_length": statistics.fmean(len(s) for row in samples for s in row),
    }


def evaluate(
    recipe: Recipe,
    layout: Layout,
    k: int,
    held_out: PromptSet,
    tokenizer: Any,
    reference: ModelConfig | None,
) -> dict[str, Any]:
    """Sample and score the policy after iteration k on the held-out prompts; KL to the reference it trained against."""
    method = recipe.method
    policy = policy_config(recipe, layout, k)
    samples, rewards, template = sample_and_score(
        recipe, policy, held_out, method.eval_samples_per_prompt, recipe.seed + EVAL_SEED_OFFSET, tokenizer
    )
    metrics = describe_samples(rewards, samples, "eval")
    if reference is not None:
        metrics["eval_kl_to_reference"] = kl_to_reference(
            recipe, policy, reference, held_out, samples, tokenizer
        )
    if is_main():
        write_jsonl(
            layout.eval(k),
            [
                {"prompt": p, "responses": s, "rewards": r}
                for p, s, r in zip(held_out.prompts, samples, rewards, strict=True)
            ],
        )
    return {**metrics, "reward_template": template}


def is_main() -> bool:
    from align.processes import state

    return state().is_main_process


def wait_for_everyone() -> None:
    from align.processes import state

    state().wait_for_everyone()


def finish_iteration(layout: Layout, k: int, row: dict[str, Any]) -> None:
    """Write the iteration's metrics: its done-marker, so a rerun skips it."""
    if is_main():
        path = layout.done(k)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(row, indent=2))
        partial.replace(path)
    wait_for_everyone()


def train_iteration(
    recipe: Recipe, layout: Layout, k: int, prompts: PromptSet, tokenizer: Any
) -> dict[str, Any]:
    """Sample (or reuse the saved samples), rank into pairs, train DPO; return the iteration's training metrics."""
    method = recipe.method
    policy = policy_config(recipe, layout, k - 1)
    if layout.samples(k).is_file():
        rows = read_jsonl(layout.samples(k))
        samples, rewards = [r["responses"] for r in rows], [r["rewards"] for r in rows]
    else:
        seed = recipe.seed + ITERATION_SEED_STRIDE * k
        samples, rewards, _ = sample_and_score(
            recipe, policy, prompts, method.samples_per_prompt, seed, tokenizer
        )
        if is_main():
            partial = layout.samples(k).with_suffix(".partial")
            write_jsonl(
                partial,
                [
                    {"prompt": p, "responses": s, "rewards": r}
                    for p, s, r in zip(prompts.prompts, samples, rewards, strict=True)
                ],
            )
            partial.replace(layout.samples(k))
    pairs, dropped = build_pairs(
        prompts.prompts, samples, rewards, recipe, f"{recipe.name}-iteration-{k - 1}"
    )
    if not pairs:
        raise AlignError(
            f"Iteration {k} of recipe {recipe.name!r} gave no preference pair ({dropped}): every prompt's samples "
            "tied or fell below method.min_margin. Lower min_margin, raise samples_per_prompt or temperature."
        )
    if is_main():
        write_jsonl(layout.pairs(k) / "train_prefs.jsonl", pairs)
        report = {"prompts": len(prompts.prompts), "pairs": len(pairs), "dropped": dropped}
        (layout.pairs(k) / "report.json").write_text(json.dumps(report, indent=2))
    wait_for_everyone()
    step = iteration_recipe(recipe, layout, k)
    reference = recipe.model if method.reference == "initial" and k > 1 else None
    trainer = dpo.build_trainer(step, reference=reference)
    result = run_trainer(step, trainer, dpo.SUMMARY_KEYS)
    del trainer
    gc.collect()
    free_accelerator_memory()
    gaps = [p["score_chosen"] - p["score_rejected"] for p in pairs]
    return {
        **describe_samples(rewards, samples, "sample"),
        "pairs": len(pairs),
        "pairs_dropped": dropped,
        "pair_mean_gap": statistics.fmean(gaps),
        "optimizer_steps": result.get("optimizer_steps"),
        "train_loss": result.get("train_loss"),
    }


def reference_of(recipe: Recipe, layout: Layout, k: int) -> ModelConfig:
    """The model iteration k trained against (for its KL): the initial policy, or the one it started from."""
    return recipe.model if recipe.method.reference == "initial" else policy_config(recipe, layout, k - 1)


def plot(rows: list[dict[str, Any]], target: Path) -> None:
    """Held-out reward and response length against iteration: reward hacking by length shows as both rising."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    target.parent.mkdir(parents=True, exist_ok=True)
    ks = [r["iteration"] for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5.5, 5), sharex=True)
    top.plot(ks, [r["eval_mean_reward"] for r in rows], marker="o", label="held-out mean")
    top.plot(ks, [r["eval_median_reward"] for r in rows], marker="s", ls="--", label="held-out median")
    trained = [r for r in rows if "sample_mean_reward" in r]
    top.plot(
        [r["iteration"] for r in trained],
        [r["sample_mean_reward"] for r in trained],
        marker="^",
        ls=":",
        label="training samples (policy before the iteration)",
    )
    top.set_ylabel("reward")
    top.legend(fontsize=7)
    top.grid(alpha=0.3)
    bottom.plot(ks, [r["eval_mean_length"] for r in rows], marker="o", color="tab:red")
    bottom.set_ylabel("mean response length (chars)")
    bottom.set_xlabel("iteration (0 = initial policy)")
    bottom.set_xticks(ks)
    bottom.grid(alpha=0.3)
    fig.suptitle("iterative DPO: reward and length per iteration")
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)


def table(rows: list[dict[str, Any]]) -> str:
    def cell(row: dict[str, Any], key: str) -> str:
        value = row.get(key)
        return "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)

    keys = [
        ("iteration", "iteration"),
        ("eval_mean_reward", "held-out mean reward"),
        ("eval_median_reward", "held-out median reward"),
        ("eval_mean_length", "held-out length (chars)"),
        ("eval_kl_to_reference", "KL to reference"),
        ("sample_mean_reward", "sample mean reward"),
        ("sample_mean_length", "sample length (chars)"),
        ("pairs", "pairs"),
        ("pair_mean_gap", "chosen-rejected gap"),
        ("optimizer_steps", "optimizer steps"),
    ]
    lines = ["| " + " | ".join(title for _, title in keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(cell(r, key) for key, _ in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def copy_policy(source: Path, out: Path) -> None:
    """The final policy's weights, config and tokenizer into output_dir, where every other method leaves its model."""
    for path in source.iterdir():
        if path.is_file() and path.name not in NOT_POLICY:
            shutil.copy2(path, out / path.name)


def run(recipe: Recipe) -> dict[str, Any]:
    """Every iteration not yet done, then the per-iteration table, plot, summary and model card."""
    from transformers import set_seed

    method = recipe.method
    require_reward_model(recipe, "iterative DPO ranks the policy's samples with one")
    check_supported(recipe)
    out = prepare_run(recipe)
    layout = Layout(out)
    set_seed(recipe.seed)
    tokenizer = load_tokenizer(recipe.model)
    prompts = load_prompts(recipe, method.prompts, tokenizer)
    held_out, per_iteration = prompt_slices(prompts, recipe)
    print(
        f"align: iterative DPO, {method.iterations} iteration(s) of {len(per_iteration[0].prompts)} prompts x "
        f"{method.samples_per_prompt} samples ({method.prompt_schedule}), {len(held_out.prompts)} held-out "
        f"prompts; {prompts.describe()}",
        flush=True,
    )
    rows: list[dict[str, Any]] = []
    for k in range(method.iterations + 1):
        if layout.done(k).is_file():
            rows.append(json.loads(layout.done(k).read_text()))
            print(f"align: iteration {k} is done ({layout.done(k)}); skipped.", flush=True)
            continue
        print(f"align: iteration {k} of {method.iterations}", flush=True)
        row: dict[str, Any] = {"iteration": k}
        if k > 0:
            row.update(train_iteration(recipe, layout, k, per_iteration[k - 1], tokenizer))
        row.update(
            evaluate(recipe, layout, k, held_out, tokenizer, reference_of(recipe, layout, k) if k else None)
        )
        finish_iteration(layout, k, row)
        rows.append(row)
    if not is_main():
        return {}
    return finish_iterations(recipe, layout, rows)


def finish_iterations(recipe: Recipe, layout: Layout, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """iterations.{jsonl,md}, the plot, the final policy, summary.json and the model card."""
    out = layout.out
    method = recipe.method
    write_jsonl(out / "iterations.jsonl", rows)
    (out / "iterations.md").write_text(table(rows))
    plot(rows, out / "plots" / "reward_and_length.png")
    copy_policy(layout.train(method.iterations), out)
    summary: dict[str, Any] = {
        "recipe": recipe.name,
        "iterations": method.iterations,
        "reward_template": rows[-1].get("reward_template"),
        **{f"iteration-{r['iteration']}/{key}": r[key] for r in rows for key in SUMMARY_KEYS if key in r},
        "output_dir": str(out),
    }
    write_summary(
        recipe,
        summary,
        {
            "reward model": f"`{recipe.reward_model.name_or_path}` scoring in template `{summary['reward_template']}`",
            "iterations": f"{method.iterations} x ({method.samples_per_prompt} samples per prompt, "
            f"{method.strategy} pairs, DPO against the {method.reference} policy), prompts {method.prompt_schedule}",
            "length penalty": method.length_penalty,
            "per-iteration metrics": "`iterations.md`, `plots/reward_and_length.png`",
        },
    )
    print("\n" + table(rows))
    return summary
