"""Reproducible benchmarks against peers and physical limits. ``make bench`` runs them all."""
