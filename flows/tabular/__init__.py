"""Tabular flows: generate, train and sample models, profile, validate, privacy analysis, batch and
multi-table."""
