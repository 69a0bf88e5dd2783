"""The global-batch promise for every batch: 1 and N processes make the same updates and see the same pairs.

Training, our choice: drop the short last batch of each epoch. On N processes accelerate fills a
short batch with repeated pairs (`even_batches`), so that step would differ from one process.
Each epoch instead samples floor(pairs / global batch) x global batch pairs of a fresh seeded
permutation (a different few pairs are left out each epoch), so every optimizer step, on any
number of processes, is one full global batch. transformers' `dataloader_drop_last` is not the
tool: it drops per-device micro-batches, whose size changes with the process count, and it also
drops the evaluation's last batch, which leaves N processes with no eval batch at all.

Evaluation counts every held-out pair once: the Trainer's eval loss already uses
`gather_for_metrics`, which removes the repeated pairs of a padded last batch. DPOTrainer gathers
its per-pair eval metrics (rewards, accuracy, margins, log-probs) with `gather`, which keeps them,
so during DPO evaluation align routes those gathers through the same de-duplication. TRL's logged
metrics are means of per-batch means, and its token-weighted ones (logits, token accuracy) weight
tokens within a batch: they equal one process's exactly when the global eval batch
(per_device_eval_batch_size x processes) is the same, e.g. 48 on one process and 24 on two. RewardTrainer
averages per-process means (accuracy, margin), so its extra metrics on a padded last batch stay
TRL's; its eval loss is exact.
"""

from __future__ import annotations

from typing import Any


class FullGlobalBatches:
    """Trainer mixin (before the TRL trainer in the bases): every optimizer step is a full global batch."""

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        from torch.utils.data import RandomSampler

        sampler = super()._get_train_sampler(train_dataset)  # type: ignore[misc]
        if type(sampler) is not RandomSampler:  # length-grouped sampling keeps transformers' own rule
            return sampler
        args = self.args  # type: ignore[attr-defined]
        global_batch = args.train_batch_size * args.gradient_accumulation_steps * args.world_size
        full = len(sampler.data_source) // global_batch * global_batch
        if not full:  # fewer pairs than one global batch: train on them all
            return sampler
        # accelerate turns a RandomSampler into its seeded, process-synchronised one, keeping num_samples
        return RandomSampler(sampler.data_source, num_samples=full, generator=sampler.generator)


class EvalPairsOnce:
    """DPOTrainer mixin: its per-pair eval metrics count every held-out pair once on any process count."""

    def prediction_step(self, *args: Any, **kwargs: Any) -> Any:
        accelerator = self.accelerator  # type: ignore[attr-defined]
        plain = accelerator.gather

        def gather_once(data: Any) -> Any:
            accelerator.gather = plain  # gather_for_metrics calls gather itself
            try:
                return accelerator.gather_for_metrics(data)
            finally:
                accelerator.gather = gather_once

        accelerator.gather = gather_once
        try:
            return super().prediction_step(*args, **kwargs)  # type: ignore[misc]
        finally:
            del accelerator.gather  # back to the class's method
