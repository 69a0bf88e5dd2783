"""Model FLOPs per trained token: 6N for a forward and backward pass, 2N per forward (Kaplan et al. 2020, section 2.1)."""

from __future__ import annotations

from typing import Any

# dense bf16 peak per device, matched by substring of torch.cuda.get_device_name()
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12}


def non_embedding_params(model: Any) -> int:
    """N: every parameter except the input embeddings; a tied lm_head still counts once."""
    total = sum(p.numel() for p in model.parameters())
    embed = model.get_input_embeddings().weight
    out = model.get_output_embeddings()
    tied = out is not None and out.weight is embed
    return total if tied else total - embed.numel()


def flops_per_token(n_params: int, method: str, precompute_ref: bool) -> int:
    """6N for forward+backward, plus 2N for DPO's online reference forward.

    PPO (one PPO epoch, every model of the same shape), per query+response token: the rollout's
    generation forward 2N (TRL takes the policy log-probs from it), reference, value and reward
    forwards 3 x 2N, then policy and value training 2 x 6N: 20N.
    """
    if method == "ppo":
        return 20 * n_params
    online_ref = method == "dpo" and not precompute_ref
    return (8 if online_ref else 6) * n_params


def device_peak(device_name: str) -> float | None:
    """Peak FLOP/s of a known GPU; None (MFU n/a) on CPU and unlisted devices."""
    return next((peak for key, peak in PEAK_FLOPS.items() if key in device_name), None)
