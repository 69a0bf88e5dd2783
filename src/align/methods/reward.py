"""Reward-model training through trl.RewardTrainer (UltraRM-style): pairs -> RM-template token ids -> trainer.

What align adds on top of TRL: each (prompt, response) is rendered and tokenized exactly as
`align score` will later score it (align.rm.templates; so TRL neither appends an EOS nor picks
another layout), behind model.system_prompt in the chat template, and the template and system
turn are recorded in the saved config; the optional score-gap
margin of the loss (-log sigmoid(r_chosen - r_rejected - margin)); the recipe's global batch;
eval accuracy on the test split before and after training; the run outputs of align.rundir.
"""

from __future__ import annotations

from typing import Any

from align.config.recipe import Recipe
from align.data.pairs import RowError, binarized_pair
from align.errors import AlignError
from align.inputs import require_data
from align.methods.batches import FullGlobalBatches
from align.methods.training import build_trainer_args, run_trainer
from align.models.loading import load_tokenizer, lora_config
from align.precision import trained_model_config, upcast_adapters
from align.rm.load import load_reward_base
from align.rm.templates import CHAT, SYSTEM_ATTR, TEMPLATE_ATTR, render
from align.rundir.outputs import MetricsCallback, prepare_run

PLOTS = {
    "loss": ["loss", "eval_loss"],
    "accuracy": ["accuracy", "eval_accuracy"],
    "reward margin": ["margin", "eval_margin"],
}
SUMMARY_KEYS = ("loss", "accuracy", "margin")


def training_template(recipe: Recipe, tokenizer: Any) -> str:
    """method.template, else the tokenizer's chat template, else UltraRM's (base LMs have no chat template)."""
    return recipe.method.template or (CHAT if tokenizer.chat_template else "ultrarm")


def training_system_prompt(recipe: Recipe, template: str) -> str | None:
    """model.system_prompt, which only the chat template can render."""
    system_prompt = recipe.model.system_prompt
    if system_prompt is not None and template != CHAT:
        raise AlignError(
            f"Recipe {recipe.name!r} sets model.system_prompt but trains in reward template {template!r}; only the "
            "'chat' template has a system turn. Remove model.system_prompt or set method.template: chat."
        )
    return system_prompt


def pair_margin(row: dict[str, Any]) -> float:
    """The pair's score gap: the binarizer's `margin`, else score_chosen - score_rejected."""
    if row.get("margin") is not None:
        return float(row["margin"])
    if row.get("score_chosen") is not None and row.get("score_rejected") is not None:
        return float(row["score_chosen"]) - float(row["score_rejected"])
    raise AlignError(
        "method.margin is true but a pair has neither `margin` nor `score_chosen`/`score_rejected`. Use data "
        "binarized by align (it writes `margin`) or an H4-format set with scores, or set method.margin: false."
    )


def prepare_pairs(
    dataset: Any, tokenizer: Any, template: str, margin: bool, name: str, system_prompt: str | None = None
) -> Any:
    """Keep only what RewardTrainer reads: chosen_ids, rejected_ids and, with `margin`, the score gap."""

    def convert(row: dict[str, Any]) -> dict[str, Any]:
        try:
            pair = binarized_pair(row)
        except RowError as exc:
            raise AlignError(
                f"Preference data {name}: {exc}. Reward training needs prompt/chosen/rejected."
            ) from None
        out: dict[str, Any] = {
            f"{side}_ids": tokenizer(
                render(template, pair.prompt, response, tokenizer, system_prompt=system_prompt)
            )["input_ids"]
            for side, response in (("chosen", pair.chosen), ("rejected", pair.rejected))
        }
        if margin:
            out["margin"] = pair_margin(row)
        return out

    return dataset.map(convert, remove_columns=dataset.column_names, desc="Tokenizing reward pairs")


def build_trainer(recipe: Recipe) -> Any:
    """Everything up to a ready RewardTrainer."""
    from transformers import set_seed
    from trl import RewardConfig, RewardTrainer

    from align.data.preferences import load_preferences

    data = require_data(recipe)
    set_seed(recipe.seed)  # before loading: the new reward head is randomly initialised
    tokenizer = load_tokenizer(recipe.model)
    template = training_template(recipe, tokenizer)
    system_prompt = training_system_prompt(recipe, template)
    splits = load_preferences(data, seed=recipe.seed)
    prepared = {
        split: prepare_pairs(
            ds, tokenizer, template, recipe.method.margin, f"{data.path} ({split})", system_prompt
        )
        for split, ds in splits.items()
    }
    test = prepared.get("test")
    args = build_trainer_args(recipe, RewardConfig, has_eval=test is not None)
    model = load_reward_base(trained_model_config(recipe))
    setattr(model.config, TEMPLATE_ATTR, template)  # `align score` and eval-rm default to it
    setattr(model.config, SYSTEM_ATTR, system_prompt)  # and to this system turn

    class FullBatchRewardTrainer(FullGlobalBatches, RewardTrainer):
        """RewardTrainer whose every optimizer step is a full global batch (align.methods.batches)."""

    trainer = FullBatchRewardTrainer(
        model=model,
        args=args,
        train_dataset=prepared["train"],
        eval_dataset=test,
        processing_class=tokenizer,
        peft_config=lora_config(recipe.model, task_type="SEQ_CLS"),
        callbacks=[MetricsCallback(recipe.output_dir, PLOTS)],
    )
    upcast_adapters(recipe, trainer.model)
    return trainer


def run(recipe: Recipe) -> dict[str, Any]:
    """Train, evaluate before and after, save the reward model and the run outputs; return the summary."""
    prepare_run(recipe)
    trainer = build_trainer(recipe)
    return run_trainer(
        recipe, trainer, SUMMARY_KEYS, {"template": getattr(trainer.model.config, TEMPLATE_ATTR)}
    )
