"""UltraFeedback data: raw rows -> validated completions -> preference pairs (sources: docs/reproduction.md).

Modules stay import-light (no `datasets` at import time) so the recipe validator can read the
strategy registry without loading the data stack.
"""
