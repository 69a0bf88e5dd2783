"""align: preference-alignment recipes over TRL (DPO, PPO, reward models, best-of-N)."""

__version__ = "0.1.0"
