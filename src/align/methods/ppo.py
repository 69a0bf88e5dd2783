"""PPO through trl.experimental.ppo.PPOTrainer: prompts -> rollouts scored by a reward oracle -> policy.

What align adds on top of TRL: prompts from UltraFeedback (deduplicated, decontaminated,
length-filtered, in the policy's template; align.methods.prompts), a reward oracle that
scores in the reward model's own template and tokenizer (align.methods.reward_oracle), a
value model started from the reward model or the policy, the recipe's rollout batch kept
across process counts, sample generations saved to samples.jsonl, and the run outputs of
align.runs (metrics JSONL, plots of reward/KL/entropy, model card).
"""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path
from typing import Any

from align.config.recipe import Recipe
from align.errors import AlignError
from align.jsonl import read_jsonl
from align.methods.prompts import PromptSet, load_prompts
from align.methods.reward_oracle import CrossTemplateReward, PromptIndex, load_oracle, require_reward_model
from align.methods.trainer_args import build_trainer_args, last_checkpoint
from align.methods.training import report
from align.models.loading import load_causal_lm, load_tokenizer, lora_config, model_kwargs, refuse_adapter
from align.models.tiny import resolve
from align.runs.outputs import (
    METRICS_FILE,
    MetricsCallback,
    prepare_run,
    read_metrics,
    tensorboard_into_output_dir,
)

PLOTS = {
    "mean reward": ["objective/scores", "objective/rlhf_reward"],
    "KL": ["objective/kl"],
    "entropy": ["objective/entropy"],
    "losses": ["loss/policy_avg", "loss/value_avg"],
}
SAMPLES_FILE = "samples.jsonl"
SUMMARY_KEYS = ("objective/scores", "objective/kl", "objective/entropy", "objective/rlhf_reward")


def _sample_logging_trainer() -> type:
    """PPOTrainer whose sample generations are also written to samples.jsonl (TRL only prints them)."""
    from trl.experimental.ppo import PPOTrainer

    class SampleLoggingPPOTrainer(PPOTrainer):
        def __init__(self, *args: Any, samples_path: Path, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.oracle: CrossTemplateReward = kwargs["reward_model"]
            self.samples_path = samples_path

        def generate_completions(self, sampling: bool = False) -> list[dict[str, Any]]:
            """TRL's near-greedy generations on the eval prompts, as rows of prompt/response/reward."""
            with self.oracle.recording() as rows:
                super().generate_completions(sampling)
            if rows and self.is_world_process_zero():
                with self.samples_path.open("a", encoding="utf-8") as f:
                    for row in rows:
                        f.write(
                            json.dumps({"step": self.state.global_step, **row}, ensure_ascii=False) + "\n"
                        )
            return rows

    return SampleLoggingPPOTrainer


def load_value_model(recipe: Recipe, policy_tokenizer: Any, oracle: CrossTemplateReward) -> Any:
    """The critic: a sequence classifier on the policy's tokenizer, from the reward model or the policy."""
    from transformers import AutoModelForSequenceClassification

    from align.rm.load import load_reward_model

    model_cfg = recipe.model
    if recipe.method.value_model_init == "reward":
        if policy_tokenizer.get_vocab() != oracle.reward_tokenizer.get_vocab():
            raise AlignError(
                f"method.value_model_init is 'reward', but the reward model {recipe.reward_model.name_or_path} has a "
                f"different tokenizer from the policy {model_cfg.name_or_path}, and PPO runs the value model on the "
                "policy's token ids. Set method.value_model_init: policy (the policy's weights with a fresh value "
                "head) in the recipe."
            )
        # The reward model's weights, loaded with the policy's precision: the critic is trained like the policy.
        cfg = recipe.reward_model.model_copy(
            update={
                "dtype": model_cfg.dtype,
                "attn_implementation": model_cfg.attn_implementation,
                "quantization": model_cfg.quantization,
            }
        )
        value, _ = load_reward_model(cfg)
    else:
        refuse_adapter(
            model_cfg, "the value model (method.value_model_init: policy); use value_model_init: reward"
        )
        value = AutoModelForSequenceClassification.from_pretrained(
            resolve(model_cfg.name_or_path), num_labels=1, **model_kwargs(model_cfg)
        )
    value.config.pad_token_id = policy_tokenizer.pad_token_id
    peft_config = lora_config(model_cfg, task_type="SEQ_CLS")
    if peft_config is not None:
        from peft import get_peft_model

        value = get_peft_model(value, peft_config)
    return value


def _datasets(recipe: Recipe, prompts: PromptSet, pad_token_id: int) -> tuple[Any, Any]:
    """(train, eval) datasets of prompt token ids; the first eval_prompts go to eval."""
    from datasets import Dataset

    if any(pad_token_id in row for row in prompts.ids):
        raise AlignError(
            f"The policy tokenizer's pad token (id {pad_token_id}) occurs inside rendered prompts, and TRL's "
            "PPOTrainer treats every pad id as padding. Give model.tokenizer a pad token that is not used in text "
            "(LLaMA tokenizers: align pads with <unk>), or check model.chat_template."
        )
    n_eval = recipe.method.eval_prompts
    if len(prompts.ids) <= n_eval:
        raise AlignError(
            f"Only {len(prompts.ids)} prompts are left, and method.eval_prompts={n_eval} holds that many out. Lower "
            "method.eval_prompts or raise method.prompts.max_prompts / max_length."
        )
    train = Dataset.from_dict({"input_ids": prompts.ids[n_eval:]})
    evaluation = Dataset.from_dict({"input_ids": prompts.ids[:n_eval]}) if n_eval else None
    return train, evaluation


def _check_batches(recipe: Recipe, args: Any, n_eval: int, world: int) -> None:
    """Settings TRL 1.12 accepts but silently mis-trains or skips on."""
    if args.gradient_accumulation_steps > 1 and args.num_mini_batches > 1:
        raise AlignError(
            f"Recipe {recipe.name!r} runs PPO with gradient_accumulation_steps={args.gradient_accumulation_steps} "
            f"and num_mini_batches={args.num_mini_batches}. TRL 1.12's PPOTrainer steps the optimizer once per "
            "accumulation cycle, which spans the whole rollout batch, so the mini-batches would not be separate "
            "updates. Keep accumulation at 1: raise method.trainer.per_device_train_batch_size to at least "
            "method.global_batch_size / processes (it is the rollout share of one process; the training forward "
            "pass runs on per_device_train_batch_size / num_mini_batches sequences)."
        )
    if n_eval and n_eval < args.per_device_eval_batch_size * world:
        raise AlignError(
            f"method.eval_prompts={n_eval} is smaller than one evaluation batch (per_device_eval_batch_size="
            f"{args.per_device_eval_batch_size} x {world} processes), so TRL would generate no samples. Raise "
            "eval_prompts or lower method.trainer.per_device_eval_batch_size."
        )


def build_trainer(recipe: Recipe) -> tuple[Any, PromptSet]:
    """Everything up to a ready PPOTrainer, and the prompts it uses."""
    from transformers import set_seed
    from trl.experimental.ppo import PPOConfig

    from align.launch import world_size

    method = recipe.method
    require_reward_model(recipe, "PPO needs a reward model to score its samples")
    set_seed(recipe.seed)
    tokenizer = load_tokenizer(recipe.model)
    tokenizer.padding_side = "left"  # queries are left-padded so generation continues each prompt
    prompts = load_prompts(recipe, method.prompts, tokenizer)
    print(f"align: PPO on {prompts.describe()}", flush=True)
    train, evaluation = _datasets(recipe, prompts, tokenizer.pad_token_id)

    n_eval, world = method.eval_prompts, world_size(recipe)
    # No checkpoints unless the recipe asks: TRL's PPOTrainer cannot resume from them (save_model writes the policy).
    extra: dict[str, Any] = {"stop_token": "eos", "save_strategy": "no"}
    if n_eval:
        extra["per_device_eval_batch_size"] = min(8, max(1, n_eval // world))
    else:
        extra["num_sample_generations"] = 0
    args = build_trainer_args(recipe, PPOConfig, **extra)
    _check_batches(recipe, args, n_eval, world)

    oracle = load_oracle(
        recipe.reward_model,
        tokenizer,
        PromptIndex(prompts.prompts, prompts.ids),
        method.reward_batch_size,
        method.reward_clip,
    )
    policy = load_causal_lm(recipe.model)
    policy.generation_config.pad_token_id = tokenizer.pad_token_id
    peft_config = lora_config(recipe.model)
    trainer_cls = _sample_logging_trainer()
    trainer = trainer_cls(
        args=args,
        processing_class=tokenizer,
        model=policy,
        ref_model=None if peft_config else load_causal_lm(recipe.model),
        reward_model=oracle,
        value_model=load_value_model(recipe, tokenizer, oracle),
        train_dataset=train,
        eval_dataset=evaluation,
        peft_config=peft_config,
        callbacks=[MetricsCallback(recipe.output_dir, PLOTS)],
        samples_path=Path(recipe.output_dir) / SAMPLES_FILE,
    )
    return trainer, prompts


def write_samples_table(output_dir: Path, width: int = 300) -> Path:
    """samples.md: samples.jsonl as one markdown table per step, to read without a notebook."""

    def cell(text: str) -> str:
        text = text if len(text) <= width else text[:width] + "…"
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")

    path = output_dir / SAMPLES_FILE
    rows = read_jsonl(path) if path.is_file() else []
    lines = [
        "# Sample generations",
        "",
        "TRL's near-greedy generations on the held-out prompts, with oracle rewards.",
    ]
    for step, group in itertools.groupby(rows, key=lambda row: row["step"]):
        lines += ["", f"## step {step}", "", "| prompt | response | reward |", "|---|---|---|"]
        lines += [f"| {cell(r['prompt'])} | {cell(r['response'])} | {r['reward']:.4g} |" for r in group]
    target = output_dir / "samples.md"
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def _mean_reward(rows: list[dict[str, Any]]) -> float | None:
    return statistics.fmean(r["reward"] for r in rows) if rows else None


def run(recipe: Recipe) -> dict[str, Any]:
    """Train, sample the eval prompts before and after, save the policy and the run outputs; return the summary."""
    if recipe.method.resume and last_checkpoint(recipe.output_dir):
        raise AlignError(
            f"{recipe.output_dir} holds checkpoints of an earlier run, and TRL's experimental PPOTrainer cannot "
            "resume. Start over with method.resume=false (the earlier run is renamed, nothing is deleted) or use another "
            "output_dir."
        )
    out = prepare_run(recipe)
    for stale in (METRICS_FILE, SAMPLES_FILE):  # PPO never resumes: outputs of an earlier run would mix in
        (out / stale).unlink(missing_ok=True)
    trainer, prompts = build_trainer(recipe)
    tensorboard_into_output_dir(trainer)
    before = _mean_reward(trainer.generate_completions())
    trainer.train()
    after = _mean_reward(trainer.generate_completions())
    trainer.save_model(str(out))
    scores = [r["objective/scores"] for r in read_metrics(out) if "objective/scores" in r]
    last = trainer.state.log_history[-1] if trainer.state.log_history else {}
    summary: dict[str, Any] = {
        "recipe": recipe.name,
        "train_prompts": len(trainer.train_dataset),
        "eval_prompts": len(trainer.eval_dataset) if trainer.eval_dataset is not None else 0,
        "ppo_iterations": trainer.state.global_step,
        "episodes": trainer.state.episode,
        "first/objective/scores": scores[0] if scores else None,
        **{f"last/{k}": last[k] for k in SUMMARY_KEYS if k in last},
        "before/eval_reward": before,
        "after/eval_reward": after,
        "output_dir": str(out),
    }
    if trainer.is_world_process_zero():
        write_samples_table(out)
    report(
        recipe,
        trainer,
        summary,
        {
            "reward model": f"`{recipe.reward_model.name_or_path}` scoring in template `{trainer.oracle.template}`",
            "value model init": recipe.method.value_model_init,
            "prompts": prompts.describe(),
            "PPO iterations": trainer.state.global_step,
            "sample generations": f"`samples.md`, `{SAMPLES_FILE}` (prompt, response, oracle reward per step)",
        },
    )
    return summary
