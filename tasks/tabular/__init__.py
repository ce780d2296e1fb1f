"""Tabular tasks: load, profile, train, sample, validate, privacy, constraints, export; the synthesizers and
multi-table generation."""
