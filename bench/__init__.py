"""Benchmarks for Rapport (``make bench``). Each reports its figure as a ratio to the raw limit measured
in the same run, because absolute times on shared machines don't compare across runs."""
