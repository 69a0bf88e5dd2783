"""What a run leaves next to its checkpoints: resolved recipe, metrics JSONL, plots, model card."""
