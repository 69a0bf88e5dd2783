"""Reward models as oracles: load (UltraRM included), render text in the RM's template, score, evaluate."""
