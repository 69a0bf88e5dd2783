"""DPO through trl.DPOTrainer: preference pairs -> conversational format -> trainer -> outputs.

What align adds on top of TRL: the recipe's global batch kept across process counts,
`max_prompt_length` (TRL dropped it; prompts are cut from the left, responses stay whole),
an explicit reference model loaded like the policy (or none: LoRA disables its adapter,
precomputed log-probs are cached by TRL keyed by data fingerprint + model hash), an eval
before and after training, and the run outputs of align.runs.
"""

from __future__ import annotations

from typing import Any

from align.config.recipe import Recipe
from align.data.workers import map_workers
from align.errors import AlignError
from align.methods.trainer_args import build_trainer_args
from align.methods.training import train_and_report
from align.models.loading import load_causal_lm, load_tokenizer, lora_config
from align.processes import main_first
from align.runs.outputs import MetricsCallback, prepare_run

PLOTS = {
    "loss": ["loss", "eval_loss"],
    "reward accuracy": ["rewards/accuracies", "eval_rewards/accuracies"],
    "reward margin": ["rewards/margins", "eval_rewards/margins"],
}
SUMMARY_KEYS = ("loss", "rewards/accuracies", "rewards/margins")


def to_conversational(example: dict[str, Any]) -> dict[str, Any]:
    """H4 rows (chosen/rejected = whole conversations) -> TRL's explicit-prompt format."""
    chosen, rejected = example["chosen"], example["rejected"]
    if not (isinstance(chosen, list) and isinstance(rejected, list) and chosen and rejected):
        raise AlignError(
            "DPO needs `chosen` and `rejected` as lists of {role, content} messages (the H4 format); got "
            f"{type(chosen).__name__}/{type(rejected).__name__}. Binarize the data with `align binarize` first."
        )
    return {"prompt": chosen[:-1], "chosen": chosen[-1:], "rejected": rejected[-1:]}


def truncate_prompt(messages: list[dict[str, str]], tokenizer: Any, max_tokens: int) -> list[dict[str, str]]:
    """Cut the rendered prompt to at most `max_tokens` tokens, dropping text from the left.

    Earlier messages go first; the earliest message kept loses the start of its content. The
    last message (the turn being answered) always stays, its ending intact.
    """

    def length(msgs: list[dict[str, str]]) -> int:
        ids = tokenizer.apply_chat_template(msgs, tokenize=True, add_generation_prompt=True)
        return len(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)

    msgs = [dict(m) for m in messages]
    while len(msgs) > 1 and length(msgs) > max_tokens:
        msgs.pop(0)
    for _ in range(8):  # re-tokenizing a cut string can shift the count by a token or two
        excess = length(msgs) - max_tokens
        if excess <= 0:
            break
        ids = tokenizer(msgs[0]["content"], add_special_tokens=False)["input_ids"]
        msgs[0]["content"] = tokenizer.decode(ids[min(excess, len(ids)) :], skip_special_tokens=False)
    return msgs


def prepare_pairs(
    dataset: Any, tokenizer: Any, max_prompt_length: int | None, num_proc: int | None = None
) -> Any:
    """Keep only what DPOTrainer reads, in conversational form, prompts truncated.

    Batched, over `num_proc` workers, on the main process first: the others read its result
    from the datasets cache.
    """

    def convert(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        rows = [
            to_conversational({"chosen": c, "rejected": r})
            for c, r in zip(batch["chosen"], batch["rejected"], strict=True)
        ]
        if max_prompt_length:
            for row in rows:
                row["prompt"] = truncate_prompt(row["prompt"], tokenizer, max_prompt_length)
        return {key: [row[key] for row in rows] for key in ("prompt", "chosen", "rejected")}

    with main_first():
        return dataset.map(
            convert,
            batched=True,
            num_proc=num_proc,
            remove_columns=dataset.column_names,
            desc="Preparing DPO pairs",
        )


def trainer_class() -> type:
    """DPOTrainer, plus length bucketing when `train_sampling_strategy: group_by_length`.

    transformers groups by a `length` column, but DPOTrainer keeps only its token-id columns
    when it builds the sampler; this is the one place align reaches into that (guarded by
    tests/test_dpo.py::test_group_by_length_cuts_padding).
    """
    from trl import DPOTrainer

    class LengthAwareDPOTrainer(DPOTrainer):
        def _set_signature_columns_if_needed(self) -> None:
            super()._set_signature_columns_if_needed()
            if self.args.train_sampling_strategy == "group_by_length":
                self._signature_columns = [*self._signature_columns, self.args.length_column_name]

    return LengthAwareDPOTrainer


def add_pair_length(trainer: Any) -> None:
    """Length of the longer side of each pair, the quantity that sets a batch's padding."""
    name = trainer.args.length_column_name
    trainer.train_dataset = trainer.train_dataset.map(
        lambda e: {name: len(e["prompt_ids"]) + max(len(e["chosen_ids"]), len(e["rejected_ids"]))},
        desc="Measuring pair lengths",
    )


def build_trainer(recipe: Recipe) -> Any:
    """Everything up to a ready DPOTrainer; shared by `run` and the benchmark."""
    from transformers import set_seed
    from trl import DPOConfig

    from align.data.preferences import load_preferences

    if recipe.data is None:
        raise AlignError(f"Recipe {recipe.name!r} has no `data` section; DPO needs preference pairs.")
    set_seed(recipe.seed)
    tokenizer = load_tokenizer(recipe.model)
    if tokenizer.chat_template is None:
        raise AlignError(
            f"The tokenizer of {recipe.model.name_or_path} has no chat template. Set model.chat_template in the "
            "recipe (a Jinja template) so prompts and responses are rendered the way the model was trained."
        )
    splits = load_preferences(recipe.data, seed=recipe.seed)
    max_prompt = recipe.method.max_prompt_length
    prepared = {
        name: prepare_pairs(split, tokenizer, max_prompt, map_workers(recipe.data.num_proc, len(split)))
        for name, split in splits.items()
    }
    train, test = prepared["train"], prepared.get("test")
    workers = map_workers(recipe.data.num_proc, len(train))

    peft_config = lora_config(recipe.model)
    # TRL tokenizes with as many workers (on the main process first; method.trainer.dataset_num_proc wins)
    args = build_trainer_args(recipe, DPOConfig, has_eval=test is not None, dataset_num_proc=workers)
    model = load_causal_lm(recipe.model)
    needs_ref = peft_config is None and not args.precompute_ref_log_probs
    trainer = trainer_class()(
        model=model,
        ref_model=load_causal_lm(recipe.model) if needs_ref else None,
        args=args,
        train_dataset=train,
        eval_dataset=test,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[MetricsCallback(recipe.output_dir, PLOTS)],
    )
    if args.train_sampling_strategy == "group_by_length":
        add_pair_length(trainer)
    return trainer


def run(recipe: Recipe) -> dict[str, Any]:
    """Train, evaluate before and after, save the model and the run outputs; return the summary."""
    prepare_run(recipe)
    return train_and_report(recipe, build_trainer(recipe), SUMMARY_KEYS)
