"""Benchmark of ``mlvet diff``: streaming two 2 GB safetensors files against a load-everything reference."""
