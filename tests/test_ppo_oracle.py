"""The reward PPO receives through TRL's own get_reward equals `align score` on the same text.

The policy (tiny://ultralm: byte tokenizer, UltraLM template) and the reward model
(tiny://llama-rm: BPE tokenizer, Zephyr template) deliberately differ, so a reward can only
match if the oracle recovers the prompt and response text and re-renders them.
"""

from __future__ import annotations

import json

import pytest
import torch
from trl.experimental.ppo import ppo_trainer
from trl.trainer.utils import pad

from align.cli import main
from align.config.recipe import ModelConfig, RewardModelConfig
from align.errors import AlignError
from align.methods.prompts import encode
from align.methods.reward_oracle import PromptIndex, load_oracle
from align.models.loading import load_tokenizer

PROMPTS = [
    "What is the capital of France?",
    "Name three colours.",
    "Écris un haïku sur la neige.",
    "Explain {braces} and </s> in text.",
    "x",
]
RESPONSES = ["Paris.", "red, green and blue", "雪の朝 — a byte test", "They stay literal: {prompt}.", ""]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run faster on one thread, and the CPU is shared with other test runs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def policy_tokenizer():
    tokenizer = load_tokenizer(ModelConfig(name_or_path="tiny://ultralm"))
    tokenizer.padding_side = "left"
    return tokenizer


def rollout(
    tokenizer, prompts: list[str], responses: list[str], eos: bool = True
) -> tuple[torch.Tensor, int]:
    """query_responses as PPOTrainer builds them: left-padded queries, right-padded (EOS-ended) responses."""
    queries = [torch.tensor(ids) for ids in encode(tokenizer, prompts)]
    tails = [
        tokenizer(r, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] * eos
        for r in responses
    ]
    query = pad(queries, padding_value=tokenizer.pad_token_id, padding_side="left")
    response = pad(
        [torch.tensor(t) for t in tails], padding_value=tokenizer.pad_token_id, padding_side="right"
    )
    return torch.cat([query, response], dim=1), query.shape[1]


def align_score(tmp_path, prompts: list[str], responses: list[str]) -> list[float]:
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(
        "".join(
            json.dumps({"prompt": p, "response": r}) + "\n" for p, r in zip(prompts, responses, strict=True)
        )
    )
    assert main(["score", "--model", "tiny://llama-rm", "--input", str(source), "--output", str(target)]) == 0
    return [json.loads(line)["reward"] for line in target.read_text().splitlines()]


def test_ppo_reward_equals_align_score_across_tokenizers(tmp_path, policy_tokenizer):
    oracle = load_oracle(
        RewardModelConfig(name_or_path="tiny://llama-rm"),
        policy_tokenizer,
        PromptIndex(PROMPTS, encode(policy_tokenizer, PROMPTS)),
        batch_size=2,
    )
    assert policy_tokenizer.get_vocab() != oracle.reward_tokenizer.get_vocab()
    assert policy_tokenizer.chat_template != oracle.reward_tokenizer.chat_template
    query_responses, context_length = rollout(policy_tokenizer, PROMPTS, RESPONSES)
    # the function PPOTrainer itself calls for rewards, with the policy's ids and pad id
    _, scores, _ = ppo_trainer.get_reward(
        oracle, query_responses, policy_tokenizer.pad_token_id, context_length
    )
    assert scores.shape == (len(PROMPTS),)
    assert scores.tolist() == pytest.approx(align_score(tmp_path, PROMPTS, RESPONSES), abs=1e-5)


def test_responses_end_at_the_first_pad_and_rows_may_lack_eos(policy_tokenizer):
    """TRL reads a reward at the last non-pad response token; text after a pad is not part of the response."""
    oracle = load_oracle(
        RewardModelConfig(name_or_path="tiny://llama-rm"),
        policy_tokenizer,
        PromptIndex(PROMPTS[:2], encode(policy_tokenizer, PROMPTS[:2])),
    )
    query_responses, context_length = rollout(
        policy_tokenizer, PROMPTS[:2], ["Paris. More", "red"], eos=False
    )
    pad_at = context_length + len(policy_tokenizer("Paris.", add_special_tokens=False)["input_ids"])
    query_responses[0, pad_at] = policy_tokenizer.pad_token_id
    prompts, responses = oracle.texts(query_responses, query_responses != policy_tokenizer.pad_token_id)
    assert prompts == PROMPTS[:2]
    assert responses == ["Paris.", "red"]
    _, scores, _ = ppo_trainer.get_reward(
        oracle, query_responses, policy_tokenizer.pad_token_id, context_length
    )
    assert scores.tolist() == pytest.approx(oracle.rewards(PROMPTS[:2], ["Paris.", "red"]), abs=1e-6)


def test_reward_clip(policy_tokenizer):
    oracle = load_oracle(
        RewardModelConfig(name_or_path="tiny://llama-rm"),
        policy_tokenizer,
        PromptIndex(PROMPTS, encode(policy_tokenizer, PROMPTS)),
        clip=0.01,
    )
    assert all(abs(r) <= 0.01 for r in oracle.rewards(PROMPTS, RESPONSES))


def test_unknown_query_is_an_error(policy_tokenizer):
    index = PromptIndex(PROMPTS[:1], encode(policy_tokenizer, PROMPTS[:1]))
    with pytest.raises(AlignError, match="not one of the prompts"):
        index.response_start([encode(policy_tokenizer, ["something else"])[0] + [5, 6]])


def test_prompt_index_finds_the_common_boundary():
    """A prompt that is a prefix of another is told apart by the column shared by the whole batch."""
    index = PromptIndex(["a", "ab"], [[1, 2], [1, 2, 3]])
    # row 0 holds prompt "a" left-padded by one, row 1 prompt "ab"; both responses start at column 3
    rows = [[-1, 1, 2, 3, 9], [1, 2, 3, 7, 8]]
    assert index.response_start(rows) == 3
    assert [index.prompt(row, 3) for row in rows] == ["a", "ab"]
