"""Online DPO through trl.experimental.online_dpo.OnlineDPOTrainer: prompts -> two samples -> judge -> DPO step.

What align adds on top of TRL: prompts from UltraFeedback (deduplicated, decontaminated,
length-filtered, in the policy's template; align.methods.prompts), the recipe's reward model as
the judge in its own template and tokenizer (align.methods.online_reward, the PPO oracle's
scoring) with an optional length penalty, per-step reward/length statistics of the samples, a
held-out reward evaluation (mean and median reward, length, chosen-rejected gap, KL to the
reference on two samples per held-out prompt) before, during and after training, vLLM sampling
through TRL where available, and the run outputs and resume of align.rundir and align.methods.training.
"""

from __future__ import annotations

import importlib.util
import statistics
from typing import Any

from align.config.recipe import OnlineDPOMethod, Recipe
from align.errors import AlignError
from align.inputs import require_reward_model
from align.methods.batches import FullGlobalBatches
from align.methods.online_reward import OracleReward, SampleStats, pair_gap
from align.methods.prompts import PromptSet, load_prompts, render_prompts
from align.methods.reward_oracle import PromptIndex, load_oracle
from align.methods.training import build_trainer_args, run_trainer
from align.models.loading import load_causal_lm, load_tokenizer, lora_config
from align.precision import trained_model_config, upcast_adapters
from align.rundir.outputs import MetricsCallback, prepare_run

PLOTS = {
    "reward": ["reward/mean", "reward/median", "eval_reward", "eval_reward_median"],
    "completion length": ["length/mean", "eval_length"],
    "chosen-rejected reward gap": ["reward/chosen_rejected_gap", "eval_reward_gap"],
    "KL to reference": ["objective/kl", "eval_kl"],
    "loss": ["loss"],
}
# held-out evaluation metrics: before/KEY and after/KEY in the summary
SUMMARY_KEYS = ("reward", "reward_median", "length", "reward_gap", "kl", "shaped_reward")


def sampler(method: OnlineDPOMethod) -> str:
    """'hf' or 'vllm' for method.engine; vLLM needs the package and a CUDA GPU."""
    import torch

    has_vllm = importlib.util.find_spec("vllm") is not None
    if method.engine == "vllm" and not torch.cuda.is_available():
        raise AlignError(
            "method.engine is 'vllm' but this machine has no CUDA GPU, which vLLM needs. Set method.engine: auto "
            "(transformers' generate where vLLM cannot run) or hf in the recipe."
        )
    if method.engine == "vllm" and not has_vllm:
        raise AlignError(
            "method.engine is 'vllm' but vLLM is not installed. Install it with `pip install -e '.[vllm]'` on the "
            "GPU machine, or set method.engine: auto (transformers' generate when vLLM is missing)."
        )
    if method.engine == "auto":
        return "vllm" if has_vllm and torch.cuda.is_available() else "hf"
    return method.engine


def _trainer_class() -> type:
    """OnlineDPOTrainer with full global batches, the judge's sample statistics in its logs and a held-out
    reward evaluation as `evaluate` (TRL's Trainer evaluation has no online-DPO loss to compute)."""
    import torch
    from accelerate.utils import gather_object
    from trl.experimental.online_dpo import OnlineDPOTrainer

    class AlignOnlineDPOTrainer(FullGlobalBatches, OnlineDPOTrainer):
        def __init__(self, *args: Any, judge: OracleReward, **kwargs: Any):
            super().__init__(*args, reward_funcs=judge, **kwargs)
            self.judge = judge

        def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
            """Training logs gain the statistics of every process's samples since the last log."""
            if "loss" in logs:
                stats = SampleStats().merged(gather_object([self.judge.stats.take()]))
                logs = {**logs, **stats.metrics(self.judge.length_penalty)}
            super().log(logs, start_time)

        def _sample(self, prompts: list[str]) -> tuple[Any, ...]:
            if self.args.use_vllm:
                return self._generate_vllm(prompts)
            return self._generate(self.model_wrapped, prompts)

        def _kl(
            self, prompt_ids: Any, prompt_mask: Any, completion_ids: Any, completion_mask: Any
        ) -> list[float]:
            """Sum over each sample's completion tokens (padding excluded) of log pi - log pi_ref."""
            logprobs = self._forward(
                self.model_wrapped, prompt_ids, prompt_mask, completion_ids, completion_mask
            )
            if self.ref_model is not None:
                ref = self._forward(self.ref_model, prompt_ids, prompt_mask, completion_ids, completion_mask)
            else:
                with self.model.disable_adapter():
                    ref = self._forward(
                        self.model_wrapped, prompt_ids, prompt_mask, completion_ids, completion_mask
                    )
            return ((logprobs - ref) * completion_mask).sum(1).float().tolist()

        def evaluate(
            self, eval_dataset: Any = None, ignore_keys: Any = None, metric_key_prefix: str = "eval"
        ):
            """Two samples per held-out prompt, judged like training samples; logged as eval_* metrics.

            Sampling uses the training settings from a fixed seed (the training random state is
            left as it was), so evaluations differ only by the policy.
            """
            dataset = eval_dataset or self.eval_dataset
            rows = list(zip(dataset["prompt"], dataset["instruction"], strict=True))
            batch = self.args.per_device_eval_batch_size
            self.model_wrapped.eval()
            local: list[dict[str, Any]] = []
            devices = [self.accelerator.device] if self.accelerator.device.type == "cuda" else []
            with (
                self.accelerator.split_between_processes(rows, apply_padding=True) as share,
                torch.random.fork_rng(devices=devices),
                torch.no_grad(),
            ):
                torch.manual_seed(self.args.seed)
                for start in range(0, len(share), batch):
                    prompts, instructions = map(list, zip(*share[start : start + batch], strict=True))
                    prompt_ids, prompt_mask, completion_ids, completion_mask = self._sample(prompts)
                    completions = self.processing_class.batch_decode(completion_ids, skip_special_tokens=True)
                    rewards, lengths, ranked = self.judge.score(
                        2 * instructions, completions, completion_ids.tolist()
                    )
                    kl = self._kl(prompt_ids, prompt_mask, completion_ids, completion_mask)
                    gaps = pair_gap(rewards, ranked)
                    n = len(prompts)  # sample i of prompt j sits at row j + i * n
                    local += [
                        {
                            "rewards": rewards[j::n],
                            "lengths": lengths[j::n],
                            "shaped": ranked[j::n],
                            "kl": kl[j::n],
                            "gap": gaps[j],
                        }
                        for j in range(n)
                    ]
            per_prompt = gather_object(local)[: len(rows)]  # drop the padding repeats of the last share
            metrics = _eval_metrics(per_prompt, metric_key_prefix, self.judge.length_penalty)
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics

    return AlignOnlineDPOTrainer


def _eval_metrics(per_prompt: list[dict[str, Any]], prefix: str, length_penalty: float) -> dict[str, float]:
    """Means (and the median reward) over every held-out sample; the gap is one per prompt."""
    if not per_prompt:
        return {}

    def every(key: str) -> list[float]:
        return [v for row in per_prompt for v in row[key]]

    out = {
        f"{prefix}_reward": statistics.fmean(every("rewards")),
        f"{prefix}_reward_median": statistics.median(every("rewards")),
        f"{prefix}_length": statistics.fmean(every("lengths")),
        f"{prefix}_reward_gap": statistics.fmean(row["gap"] for row in per_prompt),
        f"{prefix}_kl": statistics.fmean(every("kl")),
    }
    if length_penalty:
        out[f"{prefix}_shaped_reward"] = statistics.fmean(every("shaped"))
    return out


def _datasets(recipe: Recipe, prompts: PromptSet, tokenizer: Any) -> tuple[Any, Any]:
    """(train, eval) rows of `prompt` (rendered for the policy) and `instruction` (for the judge)."""
    from datasets import Dataset

    n_eval = recipe.method.eval_prompts
    if len(prompts.prompts) <= n_eval:
        raise AlignError(
            f"Only {len(prompts.prompts)} prompts are left, and method.eval_prompts={n_eval} holds that many out. "
            "Lower method.eval_prompts or raise method.prompts.max_prompts / max_length."
        )
    rendered = render_prompts(tokenizer, prompts.prompts, recipe.model.system_prompt)

    def rows(part: slice) -> Any:
        return Dataset.from_dict({"prompt": rendered[part], "instruction": prompts.prompts[part]})

    return rows(slice(n_eval, None)), (rows(slice(0, n_eval)) if n_eval else None)


def build_trainer(recipe: Recipe) -> tuple[Any, PromptSet]:
    """Everything up to a ready OnlineDPOTrainer, and the prompts it uses."""
    from accelerate import PartialState
    from transformers import set_seed
    from trl.experimental.online_dpo import OnlineDPOConfig

    method = recipe.method
    require_reward_model(recipe, "online DPO needs a reward model to judge its samples")
    engine = sampler(method)
    set_seed(recipe.seed)
    tokenizer = load_tokenizer(recipe.model)
    prompts = load_prompts(recipe, method.prompts, tokenizer)
    print(f"align: online DPO on {prompts.describe()}, sampling with {engine}", flush=True)
    train, evaluation = _datasets(recipe, prompts, tokenizer)
    args = build_trainer_args(
        recipe, OnlineDPOConfig, has_eval=evaluation is not None, use_vllm=engine == "vllm"
    )

    oracle = load_oracle(  # the judge gets instructions as text, so no prompt lookup by token ids
        recipe.reward_model,
        tokenizer,
        PromptIndex([], []),
        method.reward_batch_size,
        device=str(PartialState().device),
    )
    judge = OracleReward(oracle, method.length_penalty, tokenizer.eos_token_id, tokenizer.pad_token_id)
    peft_config = lora_config(recipe.model)
    trainer = _trainer_class()(
        model=load_causal_lm(trained_model_config(recipe)),  # fp32 masters where no engine keeps them
        ref_model=None if peft_config else load_causal_lm(recipe.model),
        judge=judge,
        args=args,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[MetricsCallback(recipe.output_dir, PLOTS)],
    )
    upcast_adapters(recipe, trainer.model)
    return trainer, prompts


def run(recipe: Recipe) -> dict[str, Any]:
    """Train with held-out reward before/during/after, save the policy and the run outputs; return the summary."""
    prepare_run(recipe)
    trainer, prompts = build_trainer(recipe)
    oracle = trainer.judge.oracle
    details = {
        "reward model": f"{recipe.reward_model.name_or_path} scoring in template {oracle.template!r}",
        "prompts": prompts.describe(),
        "length penalty": recipe.method.length_penalty,
        "sampler": "vllm" if trainer.args.use_vllm else "hf",
    }
    return run_trainer(recipe, trainer, SUMMARY_KEYS, details)
