"""Benchmarks of the collectors (run through `seamwatch bench`)."""
