"""The `annotate` section: which judge rates the completions, how hard to drive it, and with which rubric."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from align.config.recipe import Section
from align.data.schema import ASPECTS

Aspect = Literal["instruction_following", "honesty", "truthfulness", "helpfulness"]


class JudgeConfig(Section):
    """The judge model: an OpenAI-compatible endpoint, or an in-process backend built by the caller."""

    backend: Literal["openai", "transformers", "vllm"] = Field(
        "openai",
        description="'openai': any OpenAI-compatible /v1/chat/completions server (OpenAI, vLLM, transformers "
        "serve) at base_url; 'transformers' / 'vllm': the model loaded in this process.",
    )
    base_url: str | None = Field(None, description="The server's API root, e.g. http://127.0.0.1:8000/v1.")
    model: str = Field(
        description="The model name the server knows, or a model path for in-process backends."
    )
    api_key_env: str | None = Field(
        None,
        description="Name of the environment variable holding the API key (e.g. OPENAI_API_KEY); the key "
        "itself is never written to a recipe, log or output. null for servers without keys.",
    )
    # GPT-4 annotated at temperature 0 (OpenBMB/UltraFeedback src/data_annotation/annotate_preference.py
    # and annotate_critique.py, commit bf80fd46a8c6ceecc86e8babb1ae8771f26a3cbb; paper section 2.2).
    temperature: float = Field(0.0, ge=0)
    top_p: float | None = Field(
        None, gt=0, le=1, description="Sent only when set (irrelevant at temperature 0)."
    )
    # Our choice: room for four blocks with two rationales each; UltraFeedback used 500 tokens per aspect.
    max_tokens: int = Field(1024, ge=1, description="Token limit of each aspect reply.")
    # annotate_critique.py, same commit: max_tokens 1024.
    critique_max_tokens: int = Field(1024, ge=1, description="Token limit of each critique reply.")
    timeout: float = Field(300.0, gt=0, description="Seconds before one request counts as timed out.")

    @model_validator(mode="after")
    def _endpoint(self) -> JudgeConfig:
        if self.backend == "openai" and not self.base_url:
            raise ValueError(
                "judge.base_url is required for backend 'openai' (e.g. http://127.0.0.1:8000/v1)"
            )
        return self


class AnnotateConfig(Section):
    """Rate every completion of raw rows on the UltraFeedback aspects, and optionally critique it."""

    input: str | None = Field(
        None, description="JSONL of raw rows without annotations (align generate's output)."
    )
    output: str | None = Field(
        None, description="JSONL of annotated raw rows; sidecars are written next to it."
    )
    judge: JudgeConfig
    max_in_flight: int = Field(
        8,
        ge=1,
        description="Requests sent to the judge at once (our choice: keeps a local server's batch full).",
    )
    retries: int = Field(
        6, ge=0, description="Retries of a request after a rate limit, server error or time-out."
    )
    backoff: float = Field(
        1.0, gt=0, description="Base of the exponential backoff between retries, in seconds."
    )
    backoff_max: float = Field(60.0, gt=0, description="Longest wait between two retries, in seconds.")
    seed: int = Field(42, ge=0, description="Seed of the order the completions are shown to the judge in.")
    aspects: list[Aspect] = Field(
        default_factory=lambda: list(ASPECTS),
        min_length=1,
        description="Aspects to rate, one request each per row (the paper's four by default).",
    )
    critique: bool = Field(
        True, description="Also ask for a critique and overall_score (1-10) per completion."
    )
    rubric: str = Field(
        "v1", description="Version of the rubric prompts shipped in align/pipeline/judge/rubrics."
    )

    @model_validator(mode="after")
    def _unique_aspects(self) -> AnnotateConfig:
        if len(set(self.aspects)) != len(self.aspects):
            raise ValueError("annotate.aspects lists an aspect twice")
        return self
