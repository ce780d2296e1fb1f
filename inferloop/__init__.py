"""Inferloop: a self-hosted synthetic data platform built on Prefect flows."""

__version__ = "0.1.0"
