"""Vivier core: domain model, storage, configuration and command line."""

__version__ = "0.1.0"
