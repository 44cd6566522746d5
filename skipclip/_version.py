"""The package version, in one place (read by the CLI, run records and export cards)."""

__version__ = "0.1.0"
