"""Benchmark evaluation: metrics (the toolkits' definitions), result files, scoring, reports and plots,
the benchmark runner and RefCOCOg grounding. The command line is `python -m kit.evaluate`."""
