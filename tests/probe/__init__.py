"""Tests of audit.probe, one module per module of the package."""

NAME = "probe.test"
"""The SNI name of the handshake tests' leaf."""
