"""The MNIST TFX pipeline: configuration, data ingestion, pipeline definition, CLI.

Importing this package sets the environment every TFX process needs (`components.tf_env`).
"""
from components import tf_env

tf_env.configure()
