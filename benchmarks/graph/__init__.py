"""The graph-backdoor benchmark (issue 3): static detection, trigger synthesis, 100k-node timing."""
