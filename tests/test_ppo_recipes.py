"""The UltraLM-13B PPO and best-of-N recipes: batch arithmetic on several process counts, templates, errors.

Every published value of these recipes is checked against docs/published_values.yaml in tests/test_recipes.py.
"""

from __future__ import annotations

import pytest
from trl.experimental.ppo import PPOConfig

from align.config import load_recipe
from align.methods.prompts import encode
from align.methods.training import build_trainer_args
from align.models.tiny import build_tokenizer
from repo_paths import REPO

RECIPES = REPO / "recipes" / "ultralm-13b-ppo"


def ppo_batches(args: PPOConfig, world: int) -> dict[str, float]:
    """TRL 1.12 PPOTrainer's batch arithmetic (ppo_trainer.py __init__), without building a trainer."""
    batch = args.per_device_train_batch_size * args.gradient_accumulation_steps * world
    return {
        "samples per iteration": batch,
        "optimizer mini-batch": batch / args.num_mini_batches,
        "iterations": args.total_episodes / batch,
        "accumulation": args.gradient_accumulation_steps,
    }


@pytest.mark.parametrize(("name", "world"), [("ppo.yaml", 8), ("ppo.yaml", 2), ("ppo-lora.yaml", 4)])
def test_ppo_recipes_resolve_to_80_iterations_of_512_with_minibatch_64(name, world):
    recipe = load_recipe(RECIPES / name)
    args = build_trainer_args(recipe, PPOConfig, world_size=world)
    assert ppo_batches(args, world) == {
        "samples per iteration": 512,
        "optimizer mini-batch": 64,
        "iterations": 80,
        "accumulation": 1,  # num_mini_batches only splits optimizer steps without accumulation in TRL 1.12
    }
    assert recipe.method.eval_prompts >= args.per_device_eval_batch_size * recipe.launch.num_processes


@pytest.mark.parametrize("name", ["ppo.yaml", "best-of-n.yaml"])
def test_ultralm_template_renders_the_published_format(name):
    recipe = load_recipe(RECIPES / name)
    tokenizer = build_tokenizer("bytes", recipe.model.chat_template)
    ids = encode(tokenizer, ["Hi"], recipe.model.system_prompt)[0]
    system = recipe.model.system_prompt
    assert tokenizer.decode(ids) == f"<s>User: {system}</s>\nUser: Hi</s>\nAssistant: "


@pytest.mark.parametrize("recipe", ["ppo.yaml", "best-of-n.yaml"])
def test_missing_reward_model_is_one_clear_error(recipe, monkeypatch):
    from align.errors import AlignError
    from align.methods import runner

    monkeypatch.chdir(REPO)
    r = load_recipe(REPO / "recipes/smoke" / recipe, ["reward_model=null"])
    with pytest.raises(AlignError, match="no `reward_model` section"):
        runner(r.method.name).run(r)
