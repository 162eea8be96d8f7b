"""Findings: every principle of the product measured on real data, as uniform rows."""
