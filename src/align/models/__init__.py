"""Model loading: hub ids, local checkpoints, and the offline `tiny://` test models."""
