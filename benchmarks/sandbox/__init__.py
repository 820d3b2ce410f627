"""The sandbox's own cost: each isolation rung against the same runner with no isolation."""
