"""Every knob of the pipeline, and every path it writes.

Defaults live in the `PipelineConfig` dataclass. A YAML file holds only overrides (by default
`$MNIST_PIPELINE_HOME/config.yaml`, if it exists), and `--set key=value` on the command line
overrides both. Everything a run writes lives under one home folder, `Home`.
"""
from __future__ import annotations


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message says which and why."""

