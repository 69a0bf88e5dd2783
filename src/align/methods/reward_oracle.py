"""A reward model that scores the policy's samples in its own template and tokenizer.

TRL's experimental PPOTrainer asks its reward model for rewards through
`trl.experimental.utils.get_reward(model, query_responses, pad_token_id, context_length)`:
it runs `getattr(model, model.base_model_prefix)(input_ids=..., attention_mask=..., ...)`,
passes `.hidden_states[-1]` to `model.score`, and reads the result at the last non-pad
response token. The ids are the POLICY's. `CrossTemplateReward` satisfies that contract
without patching TRL: its "backbone" finds each row's prompt (by its exact token ids, so the
original instruction is recovered, not a decoded chat transcript), decodes the response,
scores (prompt, response) with `align.rm.scoring.Scorer` in the reward model's template (what
`align score` runs) and returns the reward broadcast over every position, so whatever index
get_reward reads holds it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from align.config.recipe import RewardModelConfig
from align.errors import AlignError
from align.rm.scoring import Scorer, load_scorer

MASKED = -1  # stands for a pad position in the rows the index reads


class PromptIndex:
    """Which known prompt a row of policy ids starts with, and where the response begins.

    Queries reach the reward model left-padded to a common width, so every row of a batch has
    its response starting at the same column; that column is the one where a known prompt
    ends in every row.
    """

    def __init__(self, prompts: Sequence[str], ids: Sequence[Sequence[int]]):
        self._by_length: dict[int, dict[tuple[int, ...], str]] = defaultdict(dict)
        for prompt, row in zip(prompts, ids, strict=True):
            self._by_length[len(row)][tuple(row)] = prompt

    def response_start(self, rows: list[list[int]]) -> int:
        """The column where the responses of all `rows` begin (MASKED marks padding)."""
        common: set[int] | None = None
        for row in rows:
            first = next((i for i, t in enumerate(row) if t != MASKED), len(row))
            common = {
                first + n
                for n, table in self._by_length.items()
                if (common is None or first + n in common) and tuple(row[first : first + n]) in table
            }
            if not common:
                raise AlignError(
                    "The reward oracle received a query that is not one of the prompts it was built with, so it "
                    "cannot tell the prompt from the response. Build CrossTemplateReward with every prompt PPO "
                    "trains or evaluates on (align.methods.ppo does this for its train and eval prompts)."
                )
        return max(common) if common else 0

    def prompt(self, row: list[int], start: int) -> str:
        first = next(i for i, t in enumerate(row) if t != MASKED)
        return self._by_length[start - first][tuple(row[first:start])]


class CrossTemplateReward(nn.Module):
    """The reward oracle PPOTrainer calls; see the module docstring for the contract it meets."""

    base_model_prefix = "scorer"

    def __init__(self, scorer: Scorer, policy_tokenizer: Any, index: PromptIndex, clip: float | None = None):
        super().__init__()
        self.reward_model = scorer.model  # a submodule: it moves and is prepared with the oracle
        self.config = scorer.model.config  # read by TRL's prepare_deepspeed
        self.reward_scorer = scorer
        self.policy_tokenizer = policy_tokenizer
        self.index = index
        self.clip = clip
        self._record: list[dict[str, Any]] | None = None

    @property
    def template(self) -> str:
        return self.reward_scorer.template

    @property
    def reward_tokenizer(self) -> Any:
        return self.reward_scorer.tokenizer

    def texts(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[list[str], list[str]]:
        """(prompts, responses) of a batch of policy ids; a response ends at its first pad."""
        rows = torch.where(attention_mask.bool(), input_ids, MASKED).tolist()
        start = self.index.response_start(rows)
        prompts = [self.index.prompt(row, start) for row in rows]
        responses = []
        for row in rows:
            response = row[start:]
            if MASKED in response:
                response = response[: response.index(MASKED)]
            responses.append(self.policy_tokenizer.decode(response, skip_special_tokens=True))
        return prompts, responses

    def rewards(
        self, prompts: Sequence[str], responses: Sequence[str], progress: bool = False
    ) -> list[float]:
        """Oracle rewards of (prompt, response) pairs, clipped when the recipe asks."""
        values = self.reward_scorer.score(prompts, responses, progress)
        if self.clip is not None:
            values = [min(max(v, -self.clip), self.clip) for v in values]
        return values

    def scorer(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any) -> SimpleNamespace:
        """get_reward's backbone: rewards as the last hidden state, one value repeated along the sequence."""
        prompts, responses = self.texts(input_ids, attention_mask)
        values = self.rewards(prompts, responses)
        if self._record is not None:
            self._record.extend(
                {"prompt": p, "response": r, "reward": v}
                for p, r, v in zip(prompts, responses, values, strict=True)
            )
        reward = torch.tensor(values, dtype=torch.float32, device=input_ids.device)
        return SimpleNamespace(hidden_states=(reward[:, None, None].expand(-1, input_ids.shape[1], 1),))

    def score(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """get_reward's head: the backbone already returns rewards."""
        return hidden_states

    @contextmanager
    def recording(self) -> Iterator[list[dict[str, Any]]]:
        """Collect every (prompt, response, reward) scored inside the block (sample tables)."""
        self._record = rows = []
        try:
            yield rows
        finally:
            self._record = None


def load_oracle(
    cfg: RewardModelConfig,
    policy_tokenizer: Any,
    index: PromptIndex,
    batch_size: int = 16,
    clip: float | None = None,
    device: str | None = None,
) -> CrossTemplateReward:
    """The recipe's reward_model section as an oracle over the policy's ids (the Scorer `align score` loads).

    `device` places the reward model where no trainer will move it (online DPO's judge is a plain callable)."""
    return CrossTemplateReward(load_scorer(cfg, batch_size, device), policy_tokenizer, index, clip)
