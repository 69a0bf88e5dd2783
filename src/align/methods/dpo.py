"""DPO through trl.DPOTrainer: preference pairs -> conversational format -> trainer -> outputs.

What align adds on top of TRL: the recipe's global batch kept across process counts,
`max_prompt_length` (TRL dropped it) applied as `method.truncation` says ("prompt-left" cuts
prompts from the left before TRL tokenizes, "trl-0.7" applies TRL 0.7's rule to TRL's token
ids, see `trl07_truncate`), a check that every response ends its turn with the EOS token, an
explicit reference model loaded like the policy (or none: LoRA disables its adapter,
precomputed log-probs are cached by TRL keyed by data fingerprint + model hash), an eval
before and after training, and the run outputs of align.rundir.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from align.config.recipe import ModelConfig, Recipe
from align.data.workers import map_workers
from align.errors import AlignError
from align.inputs import require_data
from align.methods.batches import EvalPairsOnce, FullGlobalBatches
from align.methods.training import build_trainer_args, run_trainer
from align.models.chat import with_system
from align.models.loading import load_causal_lm, load_tokenizer, lora_config
from align.precision import trained_model_config, upcast_adapters
from align.processes import main_first
from align.rundir.outputs import MetricsCallback, prepare_run

log = logging.getLogger(__name__)
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


def chat_ids(tokenizer: Any, conversations: list[list[dict[str, str]]], **kwargs: Any) -> list[list[int]]:
    """Token ids of each rendered conversation, as `apply_chat_template(tokenize=True)` gives them, batched.

    One render of the whole list, then one call of the fast tokenizer's Rust backend
    (`encode_batch_fast`, which skips the character offsets nobody reads here). transformers'
    own call would reset the backend's truncation and padding and convert every encoding to a
    dict of lists; those conversions were a third of the tokenization time. A slow tokenizer, or a
    backend left truncating, padding or splitting special tokens, goes through the tokenizer's call.
    """
    if not conversations:
        return []
    texts = tokenizer.apply_chat_template(conversations, tokenize=False, **kwargs)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if (
        backend is None
        or backend.truncation is not None
        or backend.padding is not None
        or backend.encode_special_tokens != bool(getattr(tokenizer, "split_special_tokens", False))
    ):
        return list(tokenizer(texts, add_special_tokens=False)["input_ids"])
    return [encoding.ids for encoding in backend.encode_batch_fast(texts, add_special_tokens=False)]


def truncate_prompts(
    prompts: list[list[dict[str, str]]], tokenizer: Any, max_tokens: int, system_prompt: str | None = None
) -> tuple[list[list[dict[str, str]]], list[list[int]]]:
    """Cut each rendered prompt to at most `max_tokens` tokens, dropping text from the left.

    Earlier messages go first; the earliest message kept loses the start of its content. The
    last message (the turn being answered) always stays, its ending intact, and so does the
    system turn (counted, never cut). Each step runs on every prompt still too long at once
    (batched tokenization); a prompt's result does not depend on the others in its batch.
    Returns the kept prompts and their ids (system turn and generation header included): the
    prompt ids DPO trains on, so tokenization need not compute them again.
    """
    msgs = [[dict(m) for m in messages] for messages in prompts]
    ids: dict[int, list[int]] = {}

    def encode(rows: list[int]) -> None:
        rendered = chat_ids(
            tokenizer, [with_system(msgs[i], system_prompt) for i in rows], add_generation_prompt=True
        )
        ids.update(zip(rows, rendered, strict=True))

    rows = list(range(len(msgs)))
    encode(rows)
    while drop := [i for i in rows if len(msgs[i]) > 1 and len(ids[i]) > max_tokens]:
        for i in drop:
            msgs[i].pop(0)
        encode(drop)
    for _ in range(8):  # re-tokenizing a cut string can shift the count by a token or two
        cut = [i for i in rows if len(ids[i]) > max_tokens]
        if not cut:
            break
        contents = tokenizer([msgs[i][0]["content"] for i in cut], add_special_tokens=False)["input_ids"]
        kept = [c[min(len(ids[i]) - max_tokens, len(c)) :] for i, c in zip(cut, contents, strict=True)]
        for i, text in zip(cut, tokenizer.batch_decode(kept, skip_special_tokens=False), strict=True):
            msgs[i][0]["content"] = text
        encode(cut)
        rows = cut
    return msgs, [ids[i] for i in range(len(msgs))]


def prepare_pairs(
    dataset: Any,
    tokenizer: Any,
    max_prompt_length: int | None,
    system_prompt: str | None = None,
    num_proc: int | None = None,
) -> Any:
    """Keep only what DPOTrainer reads, in conversational form, prompts truncated, behind the system turn.

    With `max_prompt_length`, the cut has tokenized every final prompt, and those ids are kept as
    `prompt_ids` for PairRules.tokenize. Batched, over `num_proc` workers, on the main process
    first: the others read its result from the datasets cache.
    """

    def convert(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        rows = [
            to_conversational({"chosen": c, "rejected": r})
            for c, r in zip(batch["chosen"], batch["rejected"], strict=True)
        ]
        out = {"chosen": [row["chosen"] for row in rows], "rejected": [row["rejected"] for row in rows]}
        prompts = [row["prompt"] for row in rows]
        if max_prompt_length:
            prompts, out["prompt_ids"] = truncate_prompts(
                prompts, tokenizer, max_prompt_length, system_prompt
            )
        return {"prompt": [with_system(p, system_prompt) for p in prompts], **out}

    with main_first():
        return dataset.map(
            convert,
            batched=True,
            num_proc=num_proc,
            remove_columns=dataset.column_names,
            desc="Preparing DPO pairs",
        )


def turn_end_ids(tokenizer: Any) -> list[int]:
    """The ids the chat template closes an assistant turn with (`</s>\n` for Zephyr); they must hold the EOS.

    A model trained on turns that do not end in its EOS token never learns to stop.
    """
    mark = "\x00"
    probe = [{"role": "user", "content": "?"}, {"role": "assistant", "content": mark}]
    text = tokenizer.apply_chat_template(probe, tokenize=False)
    ids = tokenizer(text[text.rindex(mark) + len(mark) :], add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id not in ids:
        raise AlignError(
            f"The chat template ends an assistant turn with {tokenizer.convert_ids_to_tokens(ids)}, which does not "
            f"hold the EOS token {tokenizer.eos_token!r}, so DPO would never teach the model to stop. Set "
            "model.chat_template to a template that closes assistant turns with the EOS token."
        )
    return ids


def trl07_truncate(
    prompt: list[int],
    chosen: list[int],
    rejected: list[int],
    eos: int,
    max_length: int,
    max_prompt_length: int,
) -> tuple[list[int], list[int], list[int]]:
    """TRL 0.7's rule, which the published Zephyr and Notus runs trained with.

    huggingface/trl/trl/trainer/utils.py@v0.7.4 (DPODataCollatorWithPadding.tokenize_batch_element, with
    DPOTrainer's default truncation_mode "keep_end", trl/trainer/dpo_trainer.py@v0.7.4): EOS is appended to both
    responses; when prompt + the longer response exceed max_length, the prompt keeps its last max_prompt_length
    tokens; if that is still too long, both responses keep their first max_length - max_prompt_length tokens (an
    EOS cut off there stays off, as in TRL 0.7).

    Not reproduced, since TRL 1.12 tokenizes and builds the attention mask itself: TRL 0.7.4 also set the
    attention mask to 0 at every EOS inside the texts (the `</s>` closing each template turn) and tokenized each
    response on its own (SentencePiece tokenizers then start it with a word-start piece); TRL 0.7.7, which the
    handbook's January 2024 revision pinned, prepended BOS to the prompt (dpo_trainer.py@v0.7.7 tokenize_row).
    """
    chosen, rejected = [*chosen, eos], [*rejected, eos]
    longer = max(len(chosen), len(rejected))
    if len(prompt) + longer > max_length:
        prompt = prompt[-max_prompt_length:]
    if len(prompt) + longer > max_length:
        keep = max_length - max_prompt_length
        chosen, rejected = chosen[:keep], rejected[:keep]
    return prompt, chosen, rejected


@dataclass(frozen=True)
class PairRules:
    """How align tokenizes the prepared pairs for DPOTrainer: TRL's ids, each response's turn end checked,
    `method.truncation` applied."""

    turn_end: list[int]
    truncation: str = "prompt-left"
    eos: int | None = None
    max_length: int | None = None
    max_prompt_length: int | None = None

    def finish(
        self, ids: tuple[list[int], list[int], list[int]], index: int, name: str
    ) -> tuple[list[int], ...]:
        """One tokenized pair (prompt, chosen, rejected ids) after the end-of-turn check and the truncation rule."""
        n = len(self.turn_end)
        for side, response in zip(("chosen", "rejected"), ids[1:], strict=True):
            if response[-n:] != self.turn_end:
                raise AlignError(
                    f"DPO {name} pair {index}: the tokenized {side} response does not end with the chat "
                    f"template's end of turn {self.turn_end} (it holds the EOS token), so the model would not "
                    "learn to stop there. Check the response text and model.chat_template."
                )
        if self.truncation != "trl-0.7":
            return ids
        return trl07_truncate(*ids, self.eos, self.max_length, self.max_prompt_length)

    def tokenize(self, dataset: Any, tokenizer: Any, args: Any, name: str) -> Any:
        """TRL 1.12's DPO tokenization (trl/trainer/dpo_trainer.py@v1.12.0, DPOTrainer._prepare_dataset), batched.

        As TRL: prompt ids from the prompt rendered with the generation header, each response's ids
        the rest of prompt + response rendered whole; with truncation_mode keep_start, pairs whose
        prompt alone fills max_length are dropped. TRL does this one row at a time, three chat-template
        calls per pair; here each batch is one call per column and one map does tokenization, the drop,
        the end-of-turn check and `method.truncation` (which replaces the drop: TRL 0.7 cut those prompts).
        Prompt ids already in the dataset (`prepare_pairs` after its prompt cut) are used as they are.
        """
        drop_at = (
            args.max_length if args.truncation_mode == "keep_start" and self.truncation != "trl-0.7" else None
        )

        def tokenize_batch(batch: dict[str, list[Any]], indices: list[int]) -> dict[str, list[Any]]:
            prompts = batch.pop("prompt_ids", None) or chat_ids(
                tokenizer, batch["prompt"], add_generation_prompt=True
            )
            sides = [
                chat_ids(tokenizer, [p + r for p, r in zip(batch["prompt"], batch[side], strict=True)])
                for side in ("chosen", "rejected")
            ]
            out: dict[str, list[Any]] = {k: [] for k in (*batch, "prompt_ids", "chosen_ids", "rejected_ids")}
            for j, (index, prompt, chosen, rejected) in enumerate(zip(indices, prompts, *sides, strict=True)):
                if chosen[: len(prompt)] != prompt or rejected[: len(prompt)] != prompt:
                    log.warning(
                        "DPO %s pair %d: the prompt's ids are not a prefix of prompt + response.", name, index
                    )
                if drop_at is not None and len(prompt) >= drop_at:
                    continue
                ids = self.finish((prompt, chosen[len(prompt) :], rejected[len(prompt) :]), index, name)
                for key, value in zip(("prompt_ids", "chosen_ids", "rejected_ids"), ids, strict=True):
                    out[key].append(value)
                for key in batch:
                    out[key].append(batch[key][j])
            return out

        with main_first():
            return dataset.map(
                tokenize_batch,
                batched=True,
                with_indices=True,
                num_proc=args.dataset_num_proc if (args.dataset_num_proc or 0) > 1 else None,  # 1: no pool
                remove_columns=dataset.column_names,
                desc=f"Tokenizing {name} pairs ({self.truncation})",
            )


def pair_rules(recipe: Recipe, tokenizer: Any, max_length: int | None) -> PairRules:
    """The PairRules of a recipe; `max_length` is the resolved DPOConfig.max_length."""
    method = recipe.method
    if method.truncation == "prompt-left":
        return PairRules(turn_end_ids(tokenizer))
    if max_length is None or max_length <= method.max_prompt_length:
        raise AlignError(
            f"Recipe {recipe.name!r}: method.truncation trl-0.7 needs method.trainer.max_length (got {max_length}) "
            f"larger than method.max_prompt_length ({method.max_prompt_length}); TRL 0.7 cut responses to their "
            "difference. Set both (the published runs used 1024 and 512)."
        )
    return PairRules(
        turn_end_ids(tokenizer),
        method.truncation,
        tokenizer.eos_token_id,
        max_length,
        method.max_prompt_length,
    )


def trainer_class() -> type:
    """DPOTrainer with full global batches and eval pairs counted once (align.methods.batches), plus
    length bucketing when `train_sampling_strategy: group_by_length`, plus PairRules.

    transformers groups by a `length` column, but DPOTrainer keeps only its token-id columns
    when it builds the sampler; this is one place align reaches into that (guarded by
    tests/test_dpo.py::test_group_by_length_cuts_padding). The other is `_prepare_dataset`, where
    TRL tokenizes row by row: `pair_rules` (a PairRules) tokenizes the same way in batches, with its
    checks, before reference log-probs are precomputed (guarded by tests/test_dpo_tokenize.py, which
    compares it with TRL's own `_prepare_dataset`).
    """
    from trl import DPOTrainer

    class LengthAwareDPOTrainer(FullGlobalBatches, EvalPairsOnce, DPOTrainer):
        def __init__(self, *args: Any, pair_rules: PairRules | None = None, **kwargs: Any):
            self.pair_rules = pair_rules  # DPOTrainer.__init__ tokenizes, so this is set first
            super().__init__(*args, **kwargs)

        def _prepare_dataset(self, dataset: Any, processing_class: Any, args: Any, dataset_name: str) -> Any:
            if self.pair_rules is None:
                return super()._prepare_dataset(dataset, processing_class, args, dataset_name)
            return self.pair_rules.tokenize(dataset, processing_class, args, dataset_name)

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


def prepare_splits(recipe: Recipe, tokenizer: Any) -> dict[str, Any]:
    """The recipe's preference splits as prepare_pairs leaves them; shared by build_trainer and the benchmark."""
    from align.data.preferences import load_preferences

    data = require_data(recipe)
    splits = load_preferences(data, seed=recipe.seed)
    method, system = recipe.method, recipe.model.system_prompt
    max_prompt = method.max_prompt_length if method.truncation == "prompt-left" else None
    return {
        name: prepare_pairs(split, tokenizer, max_prompt, system, map_workers(data.num_proc, len(split)))
        for name, split in splits.items()
    }


def build_trainer(recipe: Recipe, reference: ModelConfig | None = None) -> Any:
    """Everything up to a ready DPOTrainer; shared by `run`, the benchmark and iterative DPO.

    `reference`: the reference model when it is not the policy's starting weights (iterative DPO against the
    initial policy); loaded in the dtype the policy trains in.
    """
    from transformers import set_seed
    from trl import DPOConfig

    set_seed(recipe.seed)
    tokenizer = load_tokenizer(recipe.model)
    if tokenizer.chat_template is None:
        raise AlignError(
            f"The tokenizer of {recipe.model.name_or_path} has no chat template. Set model.chat_template in the "
            "recipe (a Jinja template) so prompts and responses are rendered the way the model was trained."
        )
    prepared = prepare_splits(recipe, tokenizer)
    train, test = prepared["train"], prepared.get("test")
    workers = map_workers(recipe.data.num_proc, len(train))

    peft_config = lora_config(recipe.model)
    # TRL tokenizes with as many workers (on the main process first; method.trainer.dataset_num_proc wins)
    args = build_trainer_args(recipe, DPOConfig, has_eval=test is not None, dataset_num_proc=workers)
    weights = trained_model_config(recipe)
    model = load_causal_lm(weights)
    needs_ref = reference is not None or recipe.loads_reference_model()
    ref_weights = weights if reference is None else reference.model_copy(update={"dtype": weights.dtype})
    trainer = trainer_class()(
        model=model,
        ref_model=load_causal_lm(ref_weights) if needs_ref else None,
        args=args,
        train_dataset=train,
        eval_dataset=test,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[MetricsCallback(recipe.output_dir, PLOTS)],
        pair_rules=pair_rules(recipe, tokenizer, args.max_length),
    )
    upcast_adapters(recipe, trainer.model)
    if args.train_sampling_strategy == "group_by_length":
        add_pair_length(trainer)
    return trainer


def run(recipe: Recipe) -> dict[str, Any]:
    """Train, evaluate before and after, save the model and the run outputs; return the summary."""
    prepare_run(recipe)
    return run_trainer(recipe, build_trainer(recipe), SUMMARY_KEYS)
