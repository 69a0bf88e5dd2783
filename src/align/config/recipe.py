"""The recipe schema: one typed section per stage of the pipeline.

raw UltraFeedback --data--> preference pairs --method--> TRL trainer --> output_dir
with the weights described by `model` (and `reward_model`), launched as `launch` says.

Trainer settings are not re-declared here: `method.trainer` is handed to TRL's own config
class (DPOConfig, RewardConfig, PPOConfig) and validated against its fields; `model.lora`
goes to peft's LoraConfig and `model.quantization` to transformers' BitsAndBytesConfig.
"""

from __future__ import annotations

import importlib
import os
import typing
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from align.config.passthrough import TorchDtype, validate_kwargs


class Section(BaseModel):
    """Base of every recipe section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --- model ----------------------------------------------------------------------------------


LORA_CONFIG = ("peft", "LoraConfig")
BNB_CONFIG = ("transformers", "BitsAndBytesConfig")


class ModelConfig(Section):
    """Weights to load: a hub id, a local directory, or `tiny://NAME` (offline test models)."""

    name_or_path: str
    revision: str | None = None
    tokenizer: str | None = Field(None, description="Tokenizer path if it differs from the model's.")
    dtype: Literal["auto", TorchDtype] = Field(
        "auto", description="Weights' dtype: 'auto' keeps the checkpoint's, or a torch dtype."
    )
    attn_implementation: Literal["eager", "sdpa", "flash_attention_2", "flash_attention_3"] | None = None
    quantization: dict[str, Any] | None = Field(
        None, description="Keyword arguments of transformers.BitsAndBytesConfig, e.g. load_in_4bit."
    )
    lora: dict[str, Any] | None = Field(
        None, description="Fields of peft.LoraConfig; null trains all weights."
    )
    chat_template: str | None = Field(None, description="Jinja chat template overriding the tokenizer's.")
    system_prompt: str | None = Field(
        None,
        description='The system turn rendered before every prompt in the chat template: null for none, "" for '
        "an empty one (as the Zephyr and Notus runs trained), or a text. Applies to DPO and reward pairs, PPO and "
        "best-of-N prompts and, on reward_model, to scoring in the 'chat' template.",
    )
    trust_remote_code: bool = False
    adapter: str | None = Field(
        None,
        description="A PEFT LoRA adapter trained on name_or_path (hub id or local directory), merged into the "
        "loaded base weights before training, as alignment-handbook's run_dpo.py started DPO from an SFT "
        "adapter; model.lora then trains a new adapter on the merged model. The tokenizer comes from the "
        "adapter unless model.tokenizer is set.",
    )
    adapter_revision: str | None = None

    @field_validator("lora")
    @classmethod
    def _check_lora(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if v is None else validate_kwargs(LORA_CONFIG, v)

    @field_validator("quantization")
    @classmethod
    def _check_quantization(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if v is None else validate_kwargs(BNB_CONFIG, v)


class RewardModelConfig(ModelConfig):
    """A reward model (the judge of PPO and best-of-N) and the template it scores text in."""

    template: str | None = Field(
        None,
        description="How (prompt, response) is rendered for scoring: 'ultrarm', 'chat' (the tokenizer's "
        "chat template) or a format string with {prompt} and {response}. Default: 'ultrarm' for "
        "UltraRM checkpoints, else 'chat'.",
    )
    append_eos: bool = Field(
        False, description="Append the EOS token to every scored text (UltraRM scores without)."
    )

    @field_validator("adapter")
    @classmethod
    def _no_adapter(cls, v: str | None) -> str | None:
        if v is not None:
            raise ValueError(
                "a reward model loads as one checkpoint; merge the adapter into it first (peft's merge_and_unload, "
                "then save_pretrained) and give that directory as name_or_path"
            )
        return v

    @field_validator("template")
    @classmethod
    def _check_template(cls, v: str | None) -> str | None:
        from align.rm.templates import TEMPLATE_HELP, is_template

        if v is not None and not is_template(v):
            raise ValueError(TEMPLATE_HELP)
        return v


# --- data -----------------------------------------------------------------------------------


class BinarizeConfig(Section):
    """How raw UltraFeedback rows become preference pairs (each strategy's published source: docs/reproduction.md)."""

    strategy: str = Field(
        "best-vs-random", description="How pairs are chosen: a name from align.data.strategies."
    )
    score: str | None = Field(
        None,
        description="'overall' (overall_score), 'mean' (mean aspect rating) or an aspect name; null uses the "
        "strategy's own (overall for best-vs-random, mean for the others).",
    )
    seed: int = Field(42, ge=0, description="Seed of the rejected draws and of the train/test split.")
    test_size: int = Field(2000, ge=0, description="Prompts held out as test_prefs; 0 means no test split.")
    decontaminate: str | None = Field(
        None,
        description="TruthfulQA questions to remove: 'truthful_qa' (hub) or a local file; null keeps all.",
    )
    drop_overall_score_bug: bool = Field(
        False,
        description="Drop completions with overall_score 10 and mean rating <= 2 (they are reported either way).",
    )
    min_margin: float = Field(
        0.0, ge=0, description="Drop pairs whose score gap is below this (any strategy)."
    )
    order_by_margin: bool = Field(
        False,
        description="Order training pairs easy to hard by score gap (curriculum DPO; useful with all-pairs).",
    )

    @field_validator("strategy")
    @classmethod
    def _check_strategy(cls, v: str) -> str:
        from align.data.strategies import STRATEGIES

        if v not in STRATEGIES:
            raise ValueError(f"unknown strategy; allowed: {', '.join(STRATEGIES)}")
        return v

    @field_validator("score")
    @classmethod
    def _check_score(cls, v: str | None) -> str | None:
        from align.data.schema import SCORES

        if v is not None and v not in SCORES:
            raise ValueError(f"unknown score; allowed: {', '.join(SCORES)}")
        return v


class DataConfig(Section):
    """Where preference pairs come from: raw UltraFeedback (binarized here) or a binarized set.

    `binarized` is the H4 pair format (HuggingFaceH4/ultrafeedback_binarized); `argilla` is the
    schema of argilla/ultrafeedback-binarized-preferences (instruction, chosen_response,
    rejected_response, chosen_avg_rating, rejected_avg_rating), converted to H4 pairs on load.
    A set with one split gets its test split from `test_size`.
    """

    path: str = Field(description="Hub id or local file/directory.")
    format: Literal["raw", "binarized", "argilla"] = "raw"
    revision: str | None = None
    binarize: BinarizeConfig = Field(default_factory=BinarizeConfig)
    train_split: str = Field("train_prefs", description="Default 'train' for format argilla.")
    test_split: str | None = Field(
        "test_prefs", description="Default null for format argilla or with test_size."
    )
    test_size: int | None = Field(
        None,
        ge=1,
        description="Hold out this many rows of train_split as the test split, with datasets' "
        "Dataset.train_test_split (formats binarized and argilla).",
    )
    split_seed: int = Field(42, description="The seed of that train_test_split.")
    shuffle_seed: int | None = Field(
        None,
        description="Shuffle train_split with this seed before the split, as alignment-handbook's get_datasets "
        "did (seed 42) before Notus's train_test_split; null for no shuffle.",
    )
    drop_ties: bool = Field(
        False,
        description="Drop pairs whose chosen and rejected scores are equal (formats binarized and argilla); they "
        "are counted either way.",
    )
    max_train_samples: int | None = Field(None, ge=1)
    max_eval_samples: int | None = Field(None, ge=1)
    num_proc: int | None = Field(
        None,
        ge=1,
        description="Worker processes for binarizing and preparing pairs (and TRL's tokenization, unless "
        "method.trainer.dataset_num_proc is set); default: one per core for large sets, none for small ones.",
    )

    @model_validator(mode="before")
    @classmethod
    def _split_defaults(cls, data: Any) -> Any:
        """One-split sets: `train` for the Argilla schema, and no test split to load when one is held out."""
        if isinstance(data, dict):
            data = dict(data)
            if data.get("format") == "argilla":
                data.setdefault("train_split", "train")
                data.setdefault("test_split", None)
            if data.get("test_size") is not None:
                data.setdefault("test_split", None)
        return data

    @field_validator("test_size")
    @classmethod
    def _check_test_size(cls, v: int | None, info: ValidationInfo) -> int | None:
        if v is not None and info.data.get("format") == "raw":
            raise ValueError("raw data is split by binarize.test_size; remove data.test_size")
        if v is not None and info.data.get("test_split"):
            raise ValueError(
                f"the test split is either loaded (test_split: {info.data['test_split']}) or held out (test_size), "
                "not both; set data.test_split: null"
            )
        return v

    @field_validator("shuffle_seed")
    @classmethod
    def _check_shuffle_seed(cls, v: int | None, info: ValidationInfo) -> int | None:
        if v is not None and info.data.get("test_size") is None:
            raise ValueError(
                "shuffle_seed only orders the rows before data.test_size holds some out; set test_size"
            )
        return v

    @field_validator("drop_ties")
    @classmethod
    def _check_drop_ties(cls, v: bool, info: ValidationInfo) -> bool:
        if v and info.data.get("format") == "raw":
            raise ValueError(
                "raw data is binarized by data.binarize; drop ties there with binarize.min_margin > 0"
            )
        return v


# --- method ---------------------------------------------------------------------------------


# Fields align sets from other parts of the recipe: setting them in `trainer` would be ambiguous.
_MANAGED_FIELDS = {"output_dir", "seed"}

# Defaults a practitioner expects from a run; any of them can be overridden in method.trainer.
TRAINER_DEFAULTS: dict[str, Any] = {
    "report_to": ["tensorboard"],
    "logging_steps": 10,
    "save_total_limit": 2,
    "project": "align",  # trackio's project: every align run in one dashboard (`trackio show --project align`)
}


class TrainerMethod(Section):
    """Common to the methods that wrap a TRL trainer."""

    # module:Class of the TRL config class `trainer` is handed to
    trl_config: ClassVar[str]
    # whether the method's loss compares the policy with a frozen copy of its starting weights
    reference_model: ClassVar[bool] = False
    # whether the method samples its policy and scores the samples with `reward_model` (which it then needs)
    judged: ClassVar[bool] = False
    # Fields of the TRL config that this method sets from its own section (on top of _MANAGED_FIELDS).
    managed_fields: ClassVar[frozenset[str]] = frozenset()
    global_batch_size: int | None = Field(
        None,
        ge=1,
        description="Pairs per optimizer step over all processes. When set, trainer.per_device_train_batch_size "
        "is the largest micro-batch allowed and gradient accumulation is derived from the number of processes.",
    )
    trainer: dict[str, Any] = Field(default_factory=dict, description="Fields of the TRL config class.")
    resume: bool = Field(
        True, description="Continue from the newest checkpoint-N in output_dir when there is one."
    )

    @field_validator("trainer")
    @classmethod
    def _check_trainer(cls, v: dict[str, Any]) -> dict[str, Any]:
        return validate_kwargs(cls.trl_config_ref(), v, exclude=_MANAGED_FIELDS | cls.managed_fields)

    @classmethod
    def trl_config_ref(cls) -> tuple[str, str]:
        """(module, class) of the TRL config class; its field list is cached (align.config.passthrough)."""
        module, _, name = cls.trl_config.partition(":")
        if module.startswith("trl.experimental"):
            # align relies on TRL's experimental trainers on purpose (tests/test_trl_pin.py guards them)
            os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
        return module, name

    @classmethod
    def trl_config_cls(cls) -> type:
        """The TRL config class (DPOConfig, RewardConfig, PPOConfig, OnlineDPOConfig), imported on first use."""
        module, name = cls.trl_config_ref()
        return getattr(importlib.import_module(module), name)


class DPOMethod(TrainerMethod):
    """Direct Preference Optimization through trl.DPOTrainer."""

    name: Literal["dpo"]
    trl_config: ClassVar[str] = "trl:DPOConfig"
    reference_model: ClassVar[bool] = True
    max_prompt_length: int | None = Field(
        None,
        ge=1,
        description="Longest prompt in tokens, cut from the left as method.truncation says (TRL dropped this option).",
    )
    truncation: Literal["prompt-left", "trl-0.7"] = Field(
        "prompt-left",
        description="'prompt-left': every prompt longer than max_prompt_length loses its start before tokenization "
        "(the whole rendered conversation is kept in shape) and TRL 1.12 cuts pairs still longer than "
        "trainer.max_length from the end. 'trl-0.7': the rule of TRL 0.7.x that the published Zephyr and Notus runs "
        "had: EOS appended to both responses; only when prompt + longer response exceed max_length is the prompt "
        "cut to its last max_prompt_length tokens, then responses to max_length - max_prompt_length if still too "
        "long (needs max_prompt_length).",
    )

    @model_validator(mode="after")
    def _check_truncation(self) -> DPOMethod:
        if self.truncation == "trl-0.7" and self.max_prompt_length is None:
            raise ValueError("truncation trl-0.7 needs method.max_prompt_length (TRL 0.7 cut prompts to it)")
        return self


class RewardMethod(TrainerMethod):
    """Reward-model training through trl.RewardTrainer."""

    name: Literal["reward"]
    trl_config: ClassVar[str] = "trl:RewardConfig"
    margin: bool = Field(False, description="Use the score gap of each pair as the loss margin.")
    template: str | None = Field(
        None,
        description="How (prompt, response) is laid out for training, as in reward_model.template; saved in the "
        "model's config so scoring uses it too. Default: 'chat' when the tokenizer has a chat template, else "
        "'ultrarm'.",
    )

    @field_validator("template")
    @classmethod
    def _check_template(cls, v: str | None) -> str | None:
        return RewardModelConfig._check_template(v)


class PromptsConfig(Section):
    """The instructions PPO, online DPO and best-of-N generate from, and how they are filtered."""

    path: str | None = Field(
        None,
        description="A JSON/JSONL/Parquet file (or hf:// URL) of rows with an `instruction` field, e.g. AlpacaEval's "
        "alpaca_eval.json; null takes the instructions of the recipe's `data` section.",
    )
    decontaminate: str | None = Field(
        "truthful_qa",
        description="TruthfulQA questions to drop: 'truthful_qa' (hub), a local file, or null to keep all.",
    )
    max_length: int | None = Field(
        512,
        ge=1,
        description="Drop prompts longer than this many tokens once rendered with the policy's chat template.",
    )
    max_prompts: int | None = Field(None, ge=1, description="Keep a seeded random subset of this size.")

    @model_validator(mode="before")
    @classmethod
    def _moved_system_prompt(cls, data: Any) -> Any:
        if isinstance(data, dict) and "system_prompt" in data:
            raise ValueError(
                "method.prompts.system_prompt moved to model.system_prompt (one setting for every place the policy's "
                "prompts are rendered); move the value there"
            )
        return data


class SamplingPromptsConfig(PromptsConfig):
    """Prompts for best-of-N: generations are not training data, so nothing is decontaminated by default."""

    decontaminate: str | None = Field(
        None, description=PromptsConfig.model_fields["decontaminate"].description
    )


class PPOMethod(TrainerMethod):
    """PPO through trl.experimental.ppo.PPOTrainer with a (possibly cross-template) reward oracle.

    global_batch_size is the rollout batch (samples per PPO iteration over all processes).
    """

    name: Literal["ppo"]
    trl_config: ClassVar[str] = "trl.experimental.ppo:PPOConfig"
    reference_model: ClassVar[bool] = True
    judged: ClassVar[bool] = True
    value_model_init: Literal["reward", "policy"] = Field(
        "reward",
        description="Start the value model from the reward model (needs the policy's tokenizer) or from the policy "
        "with a fresh scalar head.",
    )
    prompts: PromptsConfig = Field(default_factory=PromptsConfig)
    eval_prompts: int = Field(
        16,
        ge=0,
        description="Prompts held out for TRL's sample generations (samples.jsonl); 0 disables them.",
    )
    reward_batch_size: int = Field(16, ge=1, description="Sequences per reward-model forward pass.")
    reward_clip: float | None = Field(
        None, gt=0, description="Clip oracle rewards to [-reward_clip, reward_clip] before PPO sees them."
    )


class OnlineDPOMethod(TrainerMethod):
    """Online DPO through trl.experimental.online_dpo.OnlineDPOTrainer, judged by the recipe's reward model.

    Every step samples two completions per prompt from the current policy, scores both with the
    reward model in its own template and tokenizer (as PPO's oracle does), and takes a DPO step on
    the higher-scored one as chosen (Guo et al. 2024, arXiv 2402.04792). global_batch_size counts
    prompts per optimizer step (each sampled twice).
    """

    name: Literal["online-dpo"]
    trl_config: ClassVar[str] = "trl.experimental.online_dpo:OnlineDPOConfig"
    reference_model: ClassVar[bool] = True
    judged: ClassVar[bool] = True
    managed_fields: ClassVar[frozenset[str]] = frozenset(
        {"use_vllm", "reward_model_path", "reward_weights", "model_init_kwargs"}
    )
    prompts: PromptsConfig = Field(default_factory=PromptsConfig)
    eval_prompts: int = Field(
        64,
        ge=0,
        description="Prompts held out for the reward evaluation: two samples each, scored before, during (every "
        "eval_steps) and after training; 0 disables it.",
    )
    reward_batch_size: int = Field(16, ge=1, description="Sequences per reward-model forward pass.")
    length_penalty: float = Field(
        0.0,
        ge=0,
        description="Reward shaping against length hacking: the reward DPO ranks by is r - length_penalty * L, where "
        "r is the reward model's score of (prompt, completion) in its own template and L the number of policy tokens "
        "generated before the EOS token (EOS and padding not counted). 0 ranks by r alone. TRL's "
        "trainer.missing_eos_penalty is subtracted on top.",
    )
    engine: Literal["auto", "hf", "vllm"] = Field(
        "auto",
        description="Sampler: TRL's vLLM path (trainer.vllm_mode, colocate by default) when vLLM is installed and a "
        "GPU is present (auto), else transformers' generate.",
    )

    @model_validator(mode="before")
    @classmethod
    def _beta_list(cls, data: Any) -> Any:
        """OnlineDPOConfig types beta as a per-epoch list and accepts one number too: keep the number as a list."""
        if isinstance(data, dict) and isinstance(data.get("trainer"), dict):
            beta = data["trainer"].get("beta")
            if isinstance(beta, int | float) and not isinstance(beta, bool):
                data = {**data, "trainer": {**data["trainer"], "beta": [beta]}}
        return data


class BestOfNMethod(Section):
    """Sample max(N) completions per prompt once, keep the reward model's argmax among the first N."""

    name: Literal["best-of-n"]
    judged: ClassVar[bool] = True  # see TrainerMethod.judged
    n: list[int] = Field(
        default_factory=lambda: [1, 2, 4, 8, 16],
        min_length=1,
        description="Values of N (samples to pick from).",
    )
    temperature: float = Field(1.0, gt=0, description="Sampling temperature.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus-sampling probability mass (1: off).")
    max_new_tokens: int = Field(512, ge=1, description="Longest completion in tokens.")
    batch_size: int = Field(8, ge=1, description="Prompts per generate call (each sampled max(N) times).")
    reward_batch_size: int = Field(16, ge=1, description="Sequences per reward-model forward pass.")
    engine: Literal["auto", "hf", "vllm"] = Field(
        "auto",
        description="Sampler: vLLM when installed and a GPU is present (auto), else transformers' generate.",
    )
    prompts: SamplingPromptsConfig = Field(default_factory=SamplingPromptsConfig)

    @field_validator("n")
    @classmethod
    def _check_n(cls, v: list[int]) -> list[int]:
        if any(n < 1 for n in v):
            raise ValueError("every N must be a positive integer")
        return sorted(set(v))


class IterativeDPOMethod(DPOMethod):
    """On-policy DPO: T times sample K completions per prompt, rank them with reward_model, train DPO on the pairs.

    `trainer`, `global_batch_size`, `max_prompt_length` and `truncation` configure each iteration's DPO as in
    `method: dpo`; sampling settings are best-of-N's. See align.methods.iterative_dpo for the run folder.
    """

    name: Literal["iterative-dpo"]  # type: ignore[assignment]
    judged: ClassVar[bool] = True
    iterations: int = Field(3, ge=1, description="Rounds of sample -> rank -> DPO.")
    samples_per_prompt: int = Field(
        5, ge=2, description="Completions sampled per prompt from the current policy (K)."
    )
    prompt_schedule: Literal["split", "reuse"] = Field(
        "split",
        description="'split': each iteration takes its own slice of the prompts (as the published recipes did); "
        "'reuse': every iteration samples the same prompts.",
    )
    prompts_per_iteration: int | None = Field(
        None, ge=1, description="Prompts sampled per iteration; null: all (reuse) or an equal share (split)."
    )
    strategy: Literal["best-vs-worst", "best-vs-random", "all-pairs", "curated-mean"] = Field(
        "best-vs-worst", description="Which pairs one prompt's ranked samples give (align.data.strategies)."
    )
    min_margin: float = Field(
        0.0,
        ge=0,
        description="Drop pairs whose reward gap is below this (ties always give no best-vs-worst pair).",
    )
    length_penalty: float = Field(
        0.0,
        ge=0,
        description="Rank samples by reward - length_penalty x response characters (RLHFlow's max_min_p); the "
        "raw reward is still reported.",
    )
    reference: Literal["initial", "previous"] = Field(
        "previous",
        description="DPO's reference model in iteration k: the initial policy, or the policy iteration k starts from.",
    )
    eval_prompts: int = Field(
        64, ge=1, description="Held-out prompts (never trained on) each policy is sampled and scored on."
    )
    eval_samples_per_prompt: int = Field(2, ge=1)
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(512, ge=1)
    batch_size: int = Field(8, ge=1, description="Prompts per generate call (each sampled K times).")
    reward_batch_size: int = Field(16, ge=1, description="Sequences per reward-model forward pass.")
    engine: Literal["auto", "hf", "vllm"] = BestOfNMethod.model_fields["engine"]
    prompts: PromptsConfig = Field(default_factory=PromptsConfig)


Method = Annotated[
    DPOMethod | RewardMethod | PPOMethod | OnlineDPOMethod | BestOfNMethod | IterativeDPOMethod,
    Field(discriminator="name"),
]
# Every method by its `name`: the one list of methods (align.methods.<name> runs each).
METHODS: dict[str, type[Section]] = {
    typing.get_args(cls.model_fields["name"].annotation)[0]: cls
    for cls in typing.get_args(typing.get_args(Method)[0])
}


# --- launch ---------------------------------------------------------------------------------


class LaunchConfig(Section):
    """How many processes run the recipe; more than one goes through `accelerate launch`."""

    num_processes: int = Field(1, ge=1, description="Processes (GPUs) over all machines.")
    num_machines: int = Field(1, ge=1)
    machine_rank: int = Field(0, ge=0)
    main_process_ip: str | None = None
    main_process_port: int | None = Field(None, ge=1, le=65535)
    config_file: str | None = Field(None, description="An accelerate config from configs/accelerate/.")
    mixed_precision: Literal["no", "fp16", "bf16"] | None = Field(
        None,
        description="Optional; must agree with method.trainer.bf16/fp16, which is what align passes to accelerate "
        "(an accelerate config file's mixed_precision never overrides the recipe).",
    )

    @field_validator("mixed_precision", mode="before")
    @classmethod
    def _yaml_no(cls, v: object) -> object:
        return "no" if v is False else v  # YAML 1.1 reads a bare `no` as false


# --- recipe ---------------------------------------------------------------------------------


class Recipe(Section):
    """A whole run. `base:` in the YAML inherits from another recipe (see loader.py)."""

    name: str
    description: str | None = None
    output_dir: str
    seed: int = Field(42, ge=0, description="Seeds torch, numpy and the data order (must be >= 0).")
    model: ModelConfig
    reward_model: RewardModelConfig | None = None
    data: DataConfig | None = None
    method: Method
    launch: LaunchConfig = Field(default_factory=LaunchConfig)

    def loads_reference_model(self) -> bool:
        """Whether a frozen copy of the policy is loaded beside it: for a method with a reference model,
        unless LoRA training stands in for it (TRL disables the adapter) or DPO's reference log-probs are
        precomputed. DPO and PPO wiring, the memory estimate and the benchmark all ask here."""
        method = self.method
        return (
            isinstance(method, TrainerMethod)
            and method.reference_model
            and not self.model.lora
            and not method.trainer.get("precompute_ref_log_probs", False)
        )
