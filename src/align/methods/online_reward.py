"""The reward function online DPO ranks its two samples by: the reward model in its own template.

TRL's OnlineDPOTrainer calls each reward function as `f(prompts=, completions=, completion_ids=,
**columns)` with the policy's rendered prompts, the decoded completions and every other column
of the prompt dataset (here `instruction`, the instruction as written), twice over: the first
half of the batch is each prompt's first sample, the second half its second. `OracleReward`
scores (instruction, completion) with the PPO oracle's `CrossTemplateReward.rewards` (the
reward model's template, system turn and tokenizer, as `align score` renders them) and, when the
recipe asks, subtracts a length penalty. It is a plain callable, not an nn.Module: TRL would
feed a module its own concatenation of the policy's prompt and completion.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from align.methods.reward_oracle import CrossTemplateReward


def completion_length(ids: Sequence[int], eos_token_id: int | None, pad_token_id: int | None) -> int:
    """Policy tokens generated before the EOS token; the EOS and any padding after the text are not counted."""
    ids = list(ids)
    if eos_token_id is not None and eos_token_id in ids:
        ids = ids[: ids.index(eos_token_id)]
    while ids and ids[-1] == pad_token_id:
        ids.pop()
    return len(ids)


def shaped(rewards: Sequence[float], lengths: Sequence[int], length_penalty: float) -> list[float]:
    """r - length_penalty * L for each sample (method.length_penalty)."""
    return [r - length_penalty * n for r, n in zip(rewards, lengths, strict=True)]


def pair_gap(rewards: Sequence[float], ranked_by: Sequence[float]) -> list[float]:
    """Reward of the chosen minus the rejected sample of each prompt.

    The batch holds every prompt's first sample, then every prompt's second; the chosen one is
    the higher in `ranked_by` (the first on ties, as TRL decides).
    """
    half = len(rewards) // 2
    return [
        rewards[i] - rewards[i + half]
        if ranked_by[i] >= ranked_by[i + half]
        else rewards[i + half] - rewards[i]
        for i in range(half)
    ]


@dataclass
class SampleStats:
    """Reward-model scores, lengths and pair gaps of the samples scored since the last `take`."""

    rewards: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)

    def take(self) -> SampleStats:
        taken = SampleStats(self.rewards, self.lengths, self.gaps)
        self.rewards, self.lengths, self.gaps = [], [], []
        return taken

    def merged(self, others: Sequence[SampleStats]) -> SampleStats:
        return SampleStats(
            [r for s in others for r in s.rewards],
            [n for s in others for n in s.lengths],
            [g for s in others for g in s.gaps],
        )

    def metrics(self, length_penalty: float) -> dict[str, float]:
        """The per-step metrics of the samples (reward-model units, policy tokens)."""
        if not self.rewards:
            return {}
        out = {
            "reward/mean": statistics.fmean(self.rewards),
            "reward/median": statistics.median(self.rewards),
            "reward/chosen_rejected_gap": statistics.fmean(self.gaps),
            "length/mean": statistics.fmean(self.lengths),
        }
        if length_penalty:
            out["reward/shaped_mean"] = statistics.fmean(shaped(self.rewards, self.lengths, length_penalty))
        return out


class OracleReward:
    """TRL reward function: the oracle's reward of (instruction, completion), length-penalised if asked."""

    __name__ = "reward_model"  # TRL names reward functions by __name__ in its logs

    def __init__(
        self,
        oracle: CrossTemplateReward,
        length_penalty: float,
        eos_token_id: int | None,
        pad_token_id: int | None,
    ):
        self.oracle = oracle
        self.length_penalty = length_penalty
        self.eos_token_id = eos_token_id
        self.pad_token_id = pad_token_id
        self.stats = SampleStats()

    def score(
        self, instructions: Sequence[str], completions: Sequence[str], completion_ids: Sequence[Sequence[int]]
    ):
        """(reward-model scores, lengths, shaped rewards) of the samples."""
        rewards = self.oracle.rewards(instructions, completions)
        lengths = [completion_length(ids, self.eos_token_id, self.pad_token_id) for ids in completion_ids]
        return rewards, lengths, shaped(rewards, lengths, self.length_penalty)

    def __call__(
        self,
        prompts: Sequence[str],
        completions: Sequence[str],
        completion_ids: Sequence[Sequence[int]],
        instruction: Sequence[str],
        **_: Any,
    ) -> list[float]:
        rewards, lengths, ranked = self.score(instruction, completions, completion_ids)
        self.stats.rewards += rewards
        self.stats.lengths += lengths
        self.stats.gaps += pair_gap(rewards, ranked)
        return ranked
