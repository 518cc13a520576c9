"""The MNIST TFX pipeline: configuration, data ingestion, pipeline definition, CLI.

Importing this package sets the environment every TFX process needs (see `environment`).
"""
from pipeline import environment

environment.configure()
