"""The `generate:` section of a pipeline recipe: instructions -> completions from a pool of models.

UltraFeedback (arXiv 2310.01377, section 2; OpenBMB/UltraFeedback README "Principle Sampling")
draws 4 models from a pool for each instruction and steers each completion with a principle
through a system prompt drawn from that principle's pool, with a mix of principles per source;
sampling at temperature 1, top_p 1, up to 1,024 new tokens
(OpenBMB/UltraFeedback/src/comparison_data_generation/main_vllm.py@bf80fd4).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from align.config.recipe import Section

Backend = Literal["transformers", "vllm", "openai"]


class InstructionSource(Section):
    """Where instructions come from: a JSONL/JSON/Parquet file, `sample://NAME` or a hub dataset id."""

    path: str
    revision: str | None = Field(None, description="Hub revision (a commit, for reproducibility).")
    split: str = "train"
    instruction_column: str = "instruction"
    source_column: str | None = Field(
        None,
        description="Column naming each row's source (it selects the principle mix); null: every row is 'default'.",
    )
    max_instructions: int | None = Field(None, ge=1, description="Keep only the first this many rows.")


class Sampling(Section):
    """Decoding settings; the defaults are UltraFeedback's (main_vllm.py@bf80fd4: SamplingParams(temperature=1,
    top_p=1, max_tokens=1024))."""

    temperature: float = Field(1.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(1024, ge=1)
    stop: list[str] = Field(default_factory=list, description="Strings that end a completion.")


class SamplingOverride(Section):
    """Per-model changes to the section's `sampling` (unset fields keep the section's value)."""

    temperature: float | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    max_new_tokens: int | None = Field(None, ge=1)
    stop: list[str] | None = None


class Endpoint(Section):
    """An OpenAI-compatible server (vLLM serve, TGI, llama.cpp server, `transformers serve`, a hosted API)."""

    base_url: str = Field(description="Up to and including /v1, e.g. http://127.0.0.1:8000/v1.")
    api_key_env: str | None = Field(
        None, description="Name of the environment variable holding the API key (the key is never logged)."
    )
    max_in_flight: int = Field(
        8, ge=1, description="Requests sent at once (our choice: keeps a server's batch full)."
    )
    timeout: float = Field(300.0, gt=0, description="Seconds before one request counts as timed out.")
    retries: int = Field(6, ge=0, description="Retries after a rate limit, server error or time-out.")
    backoff: float = Field(
        1.0, gt=0, description="Base of the exponential backoff between retries, in seconds."
    )


class PoolModel(Section):
    """One model of the pool. `name` is what the raw rows record in `models` and `completion.model`."""

    name: str | None = Field(None, description="Label in the output; default: name_or_path.")
    name_or_path: str = Field(
        description="Hub id, local directory or tiny://NAME; for `openai`, the served model."
    )
    revision: str | None = None
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    chat_template: str | None = Field(None, description="Jinja chat template overriding the tokenizer's.")
    principle_in: Literal["system", "user"] = Field(
        "system",
        description="Where the principle's prompt goes: a system turn, or before the instruction in the user turn "
        "(for chat templates without a system role).",
    )
    trust_remote_code: bool = False
    backend: Backend | None = Field(None, description="Overrides the section's backend for this model.")
    endpoint: Endpoint | None = Field(None, description="Overrides the section's endpoint for this model.")
    sampling: SamplingOverride | None = None

    @property
    def label(self) -> str:
        return self.name or self.name_or_path


class PrinciplesConfig(Section):
    """Which principle prompts steer the completions, and in what mix per source."""

    set: str = Field(
        "align-v1",
        description="A principle set shipped in align/pipeline/principles/NAME.yaml, or a path to such a YAML file.",
    )
    mix: dict[str, dict[str, float]] | None = Field(
        None,
        description="source -> {principle: weight}; the key 'default' covers unlisted sources. Null: the set's mix.",
    )

    @model_validator(mode="after")
    def _weights(self) -> PrinciplesConfig:
        for source, weights in (self.mix or {}).items():
            if not weights or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
                raise ValueError(
                    f"mix.{source} needs non-negative weights with a positive sum, got {weights}"
                )
        return self


class GenerateConfig(Section):
    """Instructions -> raw UltraFeedback rows with completions (not yet annotated)."""

    instructions: InstructionSource
    pool: list[PoolModel] = Field(min_length=1)
    models_per_instruction: int = Field(
        4, ge=1, description="Pool models drawn per instruction (UltraFeedback: 4)."
    )
    principles: PrinciplesConfig = Field(default_factory=PrinciplesConfig)
    sampling: Sampling = Field(default_factory=Sampling)
    backend: Backend = "transformers"
    endpoint: Endpoint | None = None
    batch_size: int = Field(8, ge=1, description="Prompts per generate() call (transformers backend).")
    output: str = Field(description="The raw UltraFeedback JSONL file to write.")

    @model_validator(mode="after")
    def _check(self) -> GenerateConfig:
        labels = [m.label for m in self.pool]
        twice = sorted({n for n in labels if labels.count(n) > 1})
        if twice:
            raise ValueError(f"pool names must be unique; repeated: {twice} (set `name` on each entry)")
        if self.models_per_instruction > len(self.pool):
            raise ValueError(
                f"models_per_instruction={self.models_per_instruction} exceeds the pool's {len(self.pool)} models; "
                "lower it or add models"
            )
        for model in self.pool:
            if (model.backend or self.backend) == "openai" and (model.endpoint or self.endpoint) is None:
                raise ValueError(
                    f"pool model {model.label!r} uses the openai backend but no `endpoint` is set"
                )
        return self

    def backend_of(self, model: PoolModel) -> Backend:
        return model.backend or self.backend

    def sampling_of(self, model: PoolModel) -> Sampling:
        override = model.sampling.model_dump(exclude_none=True) if model.sampling else {}
        return self.sampling.model_copy(update=override)
