"""Command-line interface: ``contextures --help``."""
