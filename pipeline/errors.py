"""The error for input a person can fix (a config file, an override, a home, a profile): the
message says which and what to do. Every layer raises it; the CLI prints it in one line.
"""
from __future__ import annotations


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message says which and why."""

