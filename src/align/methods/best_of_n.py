"""Best-of-N: sample max(N) completions per prompt once, score them with the oracle, keep the argmax of the first N.

Because every N reads a prefix of the same samples, the best-of-N reward can only grow with N,
and the comparison between Ns carries no sampling noise between them (the UltraFeedback paper's
best-of-n experiment: 16 samples at temperature 1, top-p 1, UltraRM argmax among the first N).

    output_dir/samples.jsonl              every prompt with all its samples and their rewards
    output_dir/best-of-N.jsonl            the selected completion per prompt, for each N
    output_dir/alpaca_eval/best-of-N.json AlpacaEval input: instruction, output, generator
    output_dir/reward_vs_n.{json,md}      mean oracle reward of the selected completions per N
    output_dir/plots/reward_vs_n.png      the same as a plot
"""

from __future__ import annotations

import gc
import importlib.util
import json
import statistics
from pathlib import Path
from typing import Any

from align.config.recipe import BestOfNMethod, Recipe
from align.errors import AlignError
from align.inputs import require_reward_model
from align.jsonl import write_jsonl
from align.methods.prompts import PromptSet, load_prompts
from align.models.loading import load_causal_lm, load_tokenizer, refuse_adapter
from align.models.tiny import resolve
from align.rm.scoring import load_scorer
from align.rundir.outputs import prepare_run, write_summary


def select(rewards: list[list[float]], ns: list[int]) -> dict[int, list[int]]:
    """For each N, the index of the highest reward among each prompt's first N samples (first one on ties)."""
    return {n: [max(range(min(n, len(row))), key=row.__getitem__) for row in rewards] for n in ns}


def sampling_engine(method: BestOfNMethod) -> str:
    """hf or vllm; vLLM only in a single process (it places itself on the GPUs; align shards hf's work)."""
    import torch

    from align.processes import launched

    has_vllm = importlib.util.find_spec("vllm") is not None
    if method.engine == "vllm" and not has_vllm:
        raise AlignError(
            "method.engine is 'vllm' but vLLM is not installed. Install it with `pip install -e '.[vllm]'` on a GPU "
            "machine, or set method.engine: auto (transformers' generate when vLLM is missing)."
        )
    if method.engine == "vllm" and launched():
        raise AlignError(
            "method.engine is 'vllm' in a multi-process launch, but vLLM runs in one process and uses the GPUs "
            "itself (each process would start its own engine on the same GPU). Set launch.num_processes=1 for "
            "vLLM, or method.engine: hf to shard the prompts over the processes."
        )
    if method.engine == "auto":
        return "vllm" if has_vllm and torch.cuda.is_available() and not launched() else "hf"
    return method.engine


def blocks(n_prompts: int, batch_size: int, rank: int, world: int) -> list[range]:
    """This process's share of the prompts: blocks of batch_size prompts, dealt round-robin.

    Block boundaries depend only on batch_size, never on the number of processes, and each
    block is sampled from its own seed (`block_seed`), so every block's samples and rewards are
    the same whichever process computes them, and 1 and N processes write identical outputs.
    """
    starts = range(0, n_prompts, batch_size)
    return [range(start, min(start + batch_size, n_prompts)) for start in starts[rank::world]]


def block_seed(seed: int, block: range) -> int:
    """The seed a block of prompts is sampled with: the recipe's seed and the block's first prompt."""
    return seed + 1_000_003 * block.start


def sample_hf(
    recipe: Recipe, prompts: PromptSet, tokenizer: Any, n: int, share: list[range], device: Any = None
) -> list[list[str]]:
    """n completions for each prompt of `share` with transformers' generate (pure sampling: top_k off)."""
    import torch
    from tqdm.auto import tqdm

    method = recipe.method
    model = load_causal_lm(recipe.model)
    if device is not None and not recipe.model.quantization:
        model.to(device)
    model.eval()
    out: list[list[str]] = []
    with (
        torch.inference_mode(),
        tqdm(total=sum(map(len, share)), desc=f"sampling {n} per prompt", unit="prompt") as bar,
    ):
        for block in share:
            torch.manual_seed(block_seed(recipe.seed, block))
            chunk = [prompts.ids[i] for i in block]
            batch = tokenizer.pad({"input_ids": chunk}, padding_side="left", return_tensors="pt").to(
                model.device
            )
            generated = model.generate(
                **batch,
                do_sample=True,
                temperature=method.temperature,
                top_p=method.top_p,
                top_k=0,
                max_new_tokens=method.max_new_tokens,
                num_return_sequences=n,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            texts = tokenizer.batch_decode(
                generated[:, batch["input_ids"].shape[1] :], skip_special_tokens=True
            )
            out += [texts[i : i + n] for i in range(0, len(texts), n)]
            bar.update(len(chunk))
    del model
    return out


def sample_vllm(recipe: Recipe, prompts: PromptSet, n: int) -> list[list[str]]:
    """n completions per prompt with vLLM, from the same token ids the HF path uses."""
    from vllm import LLM, SamplingParams

    method, cfg = recipe.method, recipe.model
    refuse_adapter(cfg, "vLLM sampling, which loads model.name_or_path alone (method.engine: hf merges it)")
    llm = LLM(
        model=resolve(cfg.name_or_path),
        tokenizer=resolve(cfg.tokenizer or cfg.name_or_path),
        revision=cfg.revision,
        dtype=cfg.dtype,
        seed=recipe.seed,
        trust_remote_code=cfg.trust_remote_code,
    )
    # no per-request seed: it would start every prompt's random stream from the same state
    params = SamplingParams(
        n=n, temperature=method.temperature, top_p=method.top_p, max_tokens=method.max_new_tokens
    )
    results = llm.generate([{"prompt_token_ids": ids} for ids in prompts.ids], params, use_tqdm=True)
    del llm
    return [[c.text for c in r.outputs] for r in results]


def sample_share(
    recipe: Recipe, prompts: PromptSet, tokenizer: Any, n: int
) -> tuple[list[range], list[list[str]], Any]:
    """(this process's blocks of prompts, n samples of each, the device they were drawn on or None on CPU).

    vLLM runs in one process and takes every prompt; transformers' generate takes this process's blocks.
    """
    from align.processes import state

    processes = state()
    device = processes.device if processes.device.type != "cpu" else None
    if sampling_engine(recipe.method) == "vllm":
        share = [range(len(prompts.ids))]
        samples = sample_vllm(recipe, prompts, n)
    else:
        world = processes.num_processes
        share = blocks(len(prompts.ids), recipe.method.batch_size, processes.process_index, world)
        samples = sample_hf(recipe, prompts, tokenizer, n, share, device)
    free_accelerator_memory()
    return share, samples, device


def free_accelerator_memory() -> None:
    """Drop the sampler before the reward model loads: both 13B models need not fit at once."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _plot(table: list[dict[str, Any]], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    target.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ns = [r["n"] for r in table]
    ax.plot(ns, [r["mean_reward"] for r in table], marker="o")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.set_xlabel("N (samples per prompt)")
    ax.set_ylabel("mean oracle reward of the selected")
    ax.set_title("best-of-N")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)


def write_outputs(
    recipe: Recipe, prompts: list[str], samples: list[list[str]], rewards: list[list[float]]
) -> list[dict[str, Any]]:
    """All files of the module docstring; returns the reward-vs-N table."""
    out = Path(recipe.output_dir)
    write_jsonl(
        out / "samples.jsonl",
        [
            {"prompt": p, "responses": s, "rewards": r}
            for p, s, r in zip(prompts, samples, rewards, strict=True)
        ],
    )
    (out / "alpaca_eval").mkdir(parents=True, exist_ok=True)
    table = []
    for n, picks in select(rewards, recipe.method.n).items():
        chosen = [
            {"prompt": p, "response": s[i], "reward": r[i], "index": i}
            for p, s, r, i in zip(prompts, samples, rewards, picks, strict=True)
        ]
        write_jsonl(out / f"best-of-{n}.jsonl", chosen)
        generator = f"{recipe.name}-best-of-{n}"
        alpaca = [
            {"instruction": c["prompt"], "output": c["response"], "generator": generator} for c in chosen
        ]
        (out / "alpaca_eval" / f"best-of-{n}.json").write_text(
            json.dumps(alpaca, indent=2, ensure_ascii=False)
        )
        table.append(
            {
                "n": n,
                "mean_reward": statistics.fmean(c["reward"] for c in chosen),
                "mean_response_chars": statistics.fmean(len(c["response"]) for c in chosen),
            }
        )
    (out / "reward_vs_n.json").write_text(json.dumps(table, indent=2))
    lines = ["| N | mean oracle reward | mean response length (chars) |", "|---|---|---|"]
    lines += [f"| {r['n']} | {r['mean_reward']:.4f} | {r['mean_response_chars']:.1f} |" for r in table]
    (out / "reward_vs_n.md").write_text("\n".join(lines) + "\n")
    _plot(table, out / "plots" / "reward_vs_n.png")
    return table


def run(recipe: Recipe) -> dict[str, Any]:
    """Sample, score, select, and write the outputs; return the summary.

    Under a multi-process launch each process samples and scores its blocks of prompts
    (`blocks`), and the main process gathers them and writes the outputs.
    """
    from accelerate.utils import gather_object
    from tqdm.auto import tqdm
    from transformers import set_seed

    from align.processes import state

    method = recipe.method
    require_reward_model(recipe, "best-of-N needs one to pick the best sample")
    out = prepare_run(recipe)
    set_seed(recipe.seed)
    tokenizer = load_tokenizer(recipe.model)
    prompts = load_prompts(recipe, method.prompts, tokenizer)
    n_max, engine = max(method.n), sampling_engine(method)
    print(
        f"align: best-of-{method.n} on {prompts.describe()}, {n_max} samples each with {engine}", flush=True
    )
    share, samples, device = sample_share(recipe, prompts, tokenizer, n_max)
    processes = state()

    scorer = load_scorer(
        recipe.reward_model, method.reward_batch_size, str(device) if device is not None else None
    )
    scored, done = [], 0
    for block in tqdm(
        share, desc="scoring", unit="block"
    ):  # block by block: the same batches on any sharding
        block_samples = samples[done : done + len(block)]
        flat = scorer.score(
            [prompts.prompts[i] for i, s in zip(block, block_samples, strict=True) for _ in s],
            [r for s in block_samples for r in s],
            progress=False,
        )
        scored.append((block.start, block_samples, [flat[i : i + n_max] for i in range(0, len(flat), n_max)]))
        done += len(block)
    gathered = sorted(gather_object(scored), key=lambda item: item[0])
    if not processes.is_main_process:
        return {}
    samples = [s for _, block_samples, _ in gathered for s in block_samples]
    rewards = [r for _, _, block_rewards in gathered for r in block_rewards]
    table = write_outputs(recipe, prompts.prompts, samples, rewards)

    summary: dict[str, Any] = {
        "recipe": recipe.name,
        "prompts": len(prompts.prompts),
        "samples_per_prompt": n_max,
        "engine": engine,
        "processes": processes.num_processes,
        "reward_template": scorer.template,
        **{f"best-of-{r['n']}/mean_reward": r["mean_reward"] for r in table},
        "output_dir": str(out),
    }
    write_summary(
        recipe,
        summary,
        {
            "reward model": f"`{recipe.reward_model.name_or_path}` scoring in template `{scorer.template}`",
            "prompts": prompts.describe(),
            "sampling": f"{n_max} per prompt, temperature {method.temperature}, top-p {method.top_p}, {engine}",
            "AlpacaEval inputs": "`alpaca_eval/best-of-N.json`",
        },
    )
    print("\n" + (out / "reward_vs_n.md").read_text())
    return summary
