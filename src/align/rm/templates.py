"""How a reward model sees (prompt, response): its own template, not the policy's.

A reward model is only accurate on text laid out as in its training, and that layout is rarely
the policy's chat format (UltraLM writes `User: ...</s>`, UltraRM reads `Human: ...`), so a
reward oracle re-renders every pair with `render`. A template is one of the names in
`TEMPLATES`, `chat` (the RM tokenizer's own chat template), or a format string containing
`{prompt}` and `{response}`. Only `chat` has a system turn: `system_prompt` (the model
section's, or the one a trained reward model recorded in its config) is rendered there.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from align.errors import AlignError
from align.models.chat import with_system

if TYPE_CHECKING:
    from align.config.recipe import RewardModelConfig

# The UltraRM model card's template, and the single-newline form its worked examples use.
TEMPLATES = {
    "ultrarm": "Human: {prompt}\n\nAssistant: {response}",
    "ultrarm-single-newline": "Human: {prompt}\nAssistant: {response}",
}
CHAT = "chat"
# Config attribute naming a checkpoint's template, so a converted UltraRM keeps its own.
TEMPLATE_ATTR = "reward_template"
# Config attribute recording the system turn a reward model was trained with in the chat template.
SYSTEM_ATTR = "reward_system_prompt"
_FIELD = re.compile(r"\{(prompt|response)\}")


def is_template(template: str) -> bool:
    return template in TEMPLATES or template == CHAT or ("{prompt}" in template and "{response}" in template)


TEMPLATE_HELP = (
    f"A reward template is a name ({', '.join([*TEMPLATES, CHAT])}) or a format string with both {{prompt}} "
    "and {response}, e.g. 'Human: {prompt}\\n\\nAssistant: {response}'."
)


def check_template(template: str) -> str:
    """Return `template` if it is usable, else explain which forms are accepted."""
    if is_template(template):
        return template
    raise AlignError(
        f"Reward template {template!r} is not usable. {TEMPLATE_HELP} Fix reward_model.template or --template."
    )


def default_template(model, tokenizer) -> str:
    """`ultrarm` for UltraRM checkpoints (also once converted), else the tokenizer's chat template."""
    template = getattr(model.config, TEMPLATE_ATTR, None)
    if template:
        return template
    if tokenizer.chat_template:
        return CHAT
    raise AlignError(
        f"The reward model {model.config.name_or_path} has no chat template and is not an UltraRM checkpoint, "
        "so there is no default way to lay out (prompt, response). Set reward_model.template (or --template) "
        "to 'ultrarm' or a format string with {prompt} and {response}."
    )


def resolve_template(template: str | None, model, tokenizer) -> str:
    """The recipe's/CLI's template if given, else the model's default."""
    return check_template(template) if template else default_template(model, tokenizer)


def resolve_system_prompt(cfg: RewardModelConfig, model, template: str) -> str | None:
    """The system turn to score in: the section's if it sets one, else what the model recorded (chat only)."""
    if "system_prompt" in cfg.model_fields_set:
        if cfg.system_prompt is not None and template != CHAT:
            raise AlignError(
                f"reward_model.system_prompt (--system-prompt) is set but the reward template is {template!r}; only "
                "the 'chat' template has a system turn. Remove the system prompt or use the chat template "
                "(reward_model.template: chat, --template chat)."
            )
        return cfg.system_prompt
    return getattr(model.config, SYSTEM_ATTR, None) if template == CHAT else None


def render(
    template: str,
    prompt: str,
    response: str,
    tokenizer,
    append_eos: bool = False,
    system_prompt: str | None = None,
) -> str:
    """The text the reward model scores. No EOS is added unless `append_eos` (UltraRM scores without one).

    `system_prompt` is the chat template's system turn (align.models.chat.with_system).
    """
    if template == CHAT:
        turns = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
        messages = with_system(turns, system_prompt)
        text = tokenizer.apply_chat_template(messages, tokenize=False)
        # The tokenizer adds BOS itself when scoring: drop the template's copy so it is not doubled.
        bos = tokenizer.bos_token
        if bos and text.startswith(bos) and _adds_bos(tokenizer):
            text = text[len(bos) :]
    else:
        # One pass, not str.format: other braces in the template, and braces in the text, stay literal.
        values = {"prompt": prompt, "response": response}
        text = _FIELD.sub(lambda m: values[m.group(1)], TEMPLATES.get(template, template))
    return text + tokenizer.eos_token if append_eos else text


def _adds_bos(tokenizer) -> bool:
    ids = tokenizer("a")["input_ids"]
    return bool(ids) and ids[0] == tokenizer.bos_token_id
