"""`align bench`: throughput, MFU and memory of a training step at a fixed model shape, on random weights."""
