"""Benchmark evaluation: metrics, result files, reports."""
