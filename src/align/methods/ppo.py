"""PPO through trl.experimental.ppo.PPOTrainer: prompts -> rollouts scored by a reward oracle -> policy.

What align adds on top of TRL: prompts from UltraFeedback (deduplicated, decontaminated,
length-filtered, in the policy's template; align.methods.prompts), a reward oracle that
scores in the reward model's own template and tokenizer (align.methods.reward_oracle), a
value model started from the reward model or the policy, the recipe's rollout batch kept
across process counts, sample generations saved to samples.jsonl, and the run outputs of
align.rundir (metrics JSONL, plots of reward/KL/entropy, model card).
"""

from __future__ import annotations

import itertools
import statistics
from pathlib import Path
from typing import Any

from align.config.recipe import Recipe
from align.console import use_run_console
from align.errors import AlignError
from align.inputs import require_reward_model
from align.jsonl import read_jsonl, write_jsonl
from align.methods.prompts import PromptSet, load_prompts
from align.methods.reward_oracle import CrossTemplateReward, PromptIndex, load_oracle
from align.methods.training import build_trainer_args, finish_run, last_checkpoint
from align.models.loading import load_causal_lm, load_tokenizer, lora_config
from align.precision import trained_model_config
from align.rundir.outputs import (
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
# our choice: the UltraLM-13B-PPO recipe's 80 iterations lose at most an eighth on a late failure
SAVE_STEPS = 10
SUMMARY_KEYS = ("objective/scores", "objective/kl", "objective/entropy", "objective/rlhf_reward")


def _trainer_class() -> type:
    """PPOTrainer that saves the policy itself and writes every process's sample generations to samples.jsonl."""
    from accelerate.utils import gather_object
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints
    from trl.experimental.ppo import PPOTrainer

    class AlignPPOTrainer(PPOTrainer):
        def __init__(self, *args: Any, samples_path: Path, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.oracle: CrossTemplateReward = kwargs["reward_model"]
            self.samples_path = samples_path

        def generate_completions(self, sampling: bool = False) -> list[dict[str, Any]]:
            """TRL's near-greedy generations on the eval prompts, as rows of prompt/response/reward.

            Each process scores its share of the eval prompts; the rows of all processes are
            gathered (in process order) and the main process appends them to samples.jsonl.
            """
            with self.oracle.recording() as local:
                super().generate_completions(sampling)
            rows = gather_object(local)
            if rows and self.accelerator.is_main_process:
                write_jsonl(
                    self.samples_path, ({"step": self.state.global_step, **r} for r in rows), append=True
                )
            return rows

        def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
            """The policy alone, loadable with AutoModelForCausalLM (or PEFT), and the tokenizer.

            The weights come from accelerate's get_state_dict, which every process calls (under
            ZeRO-3 it gathers the shards); the main process writes. TRL's own save_model goes
            through transformers' Trainer._save, which PPOTrainer does not set up for several
            processes (DDP: the policy+value wrapper's shared tensors, attributes that
            Trainer.__init__ would set; ZeRO-3: `self.deepspeed` holds a model, not an engine).
            """
            target = output_dir or self.args.output_dir
            weights = self.accelerator.get_state_dict(self.model)
            if self.accelerator.is_main_process:
                prefix = "policy."
                policy = self.accelerator.unwrap_model(self.model).policy
                policy.save_pretrained(
                    target,
                    state_dict={k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)},
                    safe_serialization=True,
                )
                self.processing_class.save_pretrained(target)
            self.accelerator.wait_for_everyone()

        def _save_checkpoint(self, model: Any, trial: Any) -> None:
            """Every save_steps iterations: the policy in checkpoint-N (a restart point, not a resumable state).

            Only the newest save_total_limit checkpoints are kept.
            """
            target = Path(self.args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            self.save_model(str(target))
            if self.accelerator.is_main_process:
                self.state.save_to_json(str(target / "trainer_state.json"))
                rotate_checkpoints(self.args.output_dir, self.args.save_total_limit)

    return AlignPPOTrainer


def _check_zero3_gather(trainer: Any) -> None:
    """Under ZeRO-3 the policy can only be saved gathered when DeepSpeed is told to gather it."""
    plugin = trainer.accelerator.state.deepspeed_plugin
    if plugin is None or plugin.zero_stage != 3:
        return
    zero = plugin.deepspeed_config.get("zero_optimization", {})
    if not zero.get("stage3_gather_16bit_weights_on_model_save", False):
        raise AlignError(
            "The accelerate config runs DeepSpeed ZeRO-3 without zero3_save_16bit_model, so the PPO policy could "
            "not be gathered from its shards when it is saved. Add `zero3_save_16bit_model: true` under "
            "deepspeed_config in the accelerate file (as configs/accelerate/zero3.yaml does)."
        )


def load_value_model(recipe: Recipe, policy_tokenizer: Any, oracle: CrossTemplateReward) -> Any:
    """The critic: a sequence classifier on the policy's tokenizer, from the reward model or the policy."""
    from align.rm.load import load_reward_base, load_reward_model

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
        value = load_reward_base(
            model_cfg, "the value model (method.value_model_init: policy); use value_model_init: reward"
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
    # The policy every SAVE_STEPS iterations, so a late failure loses at most that much; TRL's PPOTrainer
    # cannot resume, the checkpoints are restart points (README, PPO section).
    extra: dict[str, Any] = {"stop_token": "eos", "save_strategy": "steps", "save_steps": SAVE_STEPS}
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
    policy = load_causal_lm(trained_model_config(recipe))  # fp32 masters where no engine keeps them
    policy.generation_config.pad_token_id = tokenizer.pad_token_id
    peft_config = lora_config(recipe.model)
    trainer = _trainer_class()(
        args=args,
        processing_class=tokenizer,
        model=policy,
        ref_model=load_causal_lm(recipe.model) if recipe.loads_reference_model() else None,
        reward_model=oracle,
        value_model=load_value_model(recipe, tokenizer, oracle),
        train_dataset=train,
        eval_dataset=evaluation,
        peft_config=peft_config,
        callbacks=[MetricsCallback(recipe.output_dir, PLOTS)],
        samples_path=Path(recipe.output_dir) / SAMPLES_FILE,
    )
    _check_zero3_gather(trainer)
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
            "resume. Start over with method.resume=false (the earlier run is renamed, nothing is deleted), restart from the newest "
            "saved policy with model.name_or_path=<its checkpoint-N> and another output_dir (README, PPO section: "
            "what a restart keeps and loses), or use another output_dir."
        )
    out = prepare_run(recipe)
    for stale in (METRICS_FILE, SAMPLES_FILE):  # PPO never resumes: outputs of an earlier run would mix in
        (out / stale).unlink(missing_ok=True)
    trainer, prompts = build_trainer(recipe)
    tensorboard_into_output_dir(trainer)
    use_run_console(trainer)
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
    finish_run(
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
