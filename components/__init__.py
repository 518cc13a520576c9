"""Code that runs inside TFX components: Transform's preprocessing_fn, the model, the Trainer's
run_fn, and the baseline-model resolver strategy."""
from components import tf_env

tf_env.configure()
