"""Benchmarks: each compares Cachet with a floor measured in the same run."""
