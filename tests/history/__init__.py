"""Tests of audit.history, one module per module of the package."""
