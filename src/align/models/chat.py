"""The system turn: the one place a recipe's `system_prompt` joins a conversation before rendering.

The published Zephyr and Notus runs rendered every prompt behind an empty system message
(huggingface/alignment-handbook/src/alignment/data.py@a0b8d49, argilla-io/notus/v1/fine-tune/run_dpo.py@5cd4912),
so their models saw `<|system|>\\n</s>\\n<|user|>\\n...`. DPO pairs, reward-model pairs, PPO and
best-of-N prompts and reward scoring in the `chat` template all call `with_system`, so one
setting lays out every prompt the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

Message = dict[str, str]


def with_system(messages: Sequence[Message], system_prompt: str | None) -> list[Message]:
    """`messages` behind the system turn: none for None, an empty one for "", else that text.

    A conversation that already opens with a system message keeps its own, as the handbook did.
    """
    if system_prompt is None or (messages and messages[0].get("role") == "system"):
        return list(messages)
    return [{"role": "system", "content": system_prompt}, *messages]
