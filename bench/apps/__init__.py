"""Baseline servers measured next to the Longhaul gateway (bench only)."""
