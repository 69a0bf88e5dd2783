"""The UltraFeedback pipeline: instructions -> completions (`align generate`) -> AI feedback (`align annotate`)."""
