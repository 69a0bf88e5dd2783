"""What a pipeline recipe costs per 1,000 instructions: requests and tokens, printed by `align check`.

Request counts are exact (k completions per instruction; one judge request per aspect per row, plus
one critique per completion). New tokens are upper bounds (every reply runs to its limit). Prompt
tokens are estimates: the characters of the rendered prompts (the judge's rubric text, instruction,
principle prompt, responses) divided by 4, a common rule of thumb for English text under BPE
tokenizers; a model's own tokenizer can differ by tens of percent. Measured lengths are used where
the input files exist (mean instruction and response length); otherwise the generation limit gives an
upper bound and an assumed instruction length stands in.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from align.config.pipeline import PipelineRecipe

PER = 1000
CHARS_PER_TOKEN = 4
# Used only when no input can be read (a hub id, a file not written yet); our choices, stated in the output.
ASSUMED_INSTRUCTION = 200
ASSUMED_COMPLETIONS = 4  # UltraFeedback's completions per instruction (arXiv 2310.01377, section 2)
ASSUMED_RESPONSE_TOKENS = 1024  # UltraFeedback's generation limit (main_vllm.py@bf80fd4: max_tokens=1024)


def _tokens(chars: float) -> int:
    return round(chars / CHARS_PER_TOKEN)


def _local_rows(path: str | None) -> list[dict[str, Any]] | None:
    """Rows of a local JSONL file, or None (hub ids and files not written yet are not read by check)."""
    from align.data.samples import resolve
    from align.jsonl import read_jsonl

    if path is None or not Path(resolve(path)).is_file() or not resolve(path).endswith(".jsonl"):
        return None
    return read_jsonl(resolve(path))


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def generate_estimate(recipe: PipelineRecipe) -> dict[str, str]:
    from align.pipeline.principles import load_principles

    cfg = recipe.generate
    assert cfg is not None
    k = cfg.models_per_instruction
    rows = _local_rows(cfg.instructions.path)
    if rows:
        instruction = _mean([len(r.get(cfg.instructions.instruction_column) or "") for r in rows])
        basis = f"{len(rows)} instructions of {cfg.instructions.path}"
    else:
        instruction = ASSUMED_INSTRUCTION
        basis = f"instructions of {ASSUMED_INSTRUCTION} characters (assumed)"
    principles = load_principles(cfg.principles)
    system = _mean([len(p) for prompts in principles.prompts.values() for p in prompts])
    per_model = PER * k / len(cfg.pool)
    return {
        "completions / 1k": f"{PER * k:,} requests, {per_model:,.0f} per pool model on average",
        "prompt tokens / 1k": f"about {PER * k * _tokens(instruction + system):,} (chars/4 on {basis}; no chat markup)",
        "new tokens / 1k": f"at most {sum(per_model * cfg.sampling_of(m).max_new_tokens for m in cfg.pool):,.0f}",
    }


def annotate_estimate(recipe: PipelineRecipe) -> dict[str, str]:
    from align.pipeline.judge.requests import aspect_messages, critique_messages
    from align.pipeline.judge.rubric import load_rubric

    cfg = recipe.annotate
    assert cfg is not None
    gen = recipe.generate
    rows = _local_rows(cfg.input)
    if rows:
        k = _mean([len(r.get("completions") or []) for r in rows])
        response = _mean([len(c.get("response") or "") for r in rows for c in r.get("completions") or []])
        instruction = _mean([len(r.get("instruction") or "") for r in rows])
        basis = f"lengths measured on {cfg.input}"
    else:
        k = float(gen.models_per_instruction if gen else ASSUMED_COMPLETIONS)
        limit = max(gen.sampling_of(m).max_new_tokens for m in gen.pool) if gen else ASSUMED_RESPONSE_TOKENS
        response = limit * CHARS_PER_TOKEN
        instructions = _local_rows(gen.instructions.path) if gen else None
        column = gen.instructions.instruction_column if gen else "instruction"
        instruction = (
            _mean([len(r.get(column) or "") for r in instructions]) if instructions else ASSUMED_INSTRUCTION
        )
        basis = f"an upper bound: every response at its {limit}-token limit"
    n = max(1, round(k))
    rubric = load_rubric(cfg.rubric)
    row = {
        "source": "",
        "instruction": "x" * round(instruction),
        "completions": [{"response": "x" * round(response), "custom_system_prompt": "x" * 200}] * n,
    }
    aspect_chars = sum(
        sum(len(m["content"]) for m in aspect_messages(rubric, a, row, list(range(n)))) for a in cfg.aspects
    )
    critique_chars = sum(len(m["content"]) for m in critique_messages(rubric, row, row["completions"][0])) * k
    requests = len(cfg.aspects) + (k if cfg.critique else 0)
    prompt = _tokens(aspect_chars + (critique_chars if cfg.critique else 0))
    new = len(cfg.aspects) * cfg.judge.max_tokens + (k * cfg.judge.critique_max_tokens if cfg.critique else 0)
    return {
        "judge requests / 1k": f"{PER * requests:,.0f} ({len(cfg.aspects)} aspects"
        + (f" + {k:g} critiques" if cfg.critique else "")
        + f" per row, {k:g} completions each)",
        "judge prompt tok / 1k": f"about {PER * prompt:,} (chars/4; {basis})",
        "judge new tokens / 1k": f"at most {PER * new:,.0f}",
    }


def estimate(recipe: PipelineRecipe) -> dict[str, str]:
    out: dict[str, str] = {}
    if recipe.generate is not None:
        out.update(generate_estimate(recipe))
    if recipe.annotate is not None:
        out.update(annotate_estimate(recipe))
    return out
