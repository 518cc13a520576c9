"""What the e2e tests' real pipeline runs share: the components a run reports, the slices."""

# Every component of a run, in the order `run` reports them.
COMPONENTS = ["ImportExampleGen", "ImportSchemaGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
              "DataValidationGate", "Transform", "Tuner", "Trainer", "Evaluator", "Pusher"]

# A model good enough to be judged on real digits (about 99 % on the MNIST test set), trained
# once per test session through the real pipeline (`served_home` in tests/e2e/conftest.py):
# 20,000 training images, 2 epochs.
SERVED_SLICE = {"train_examples": 20000, "eval_examples": 2000, "epochs": 2}
# The served home's team renamed its pipeline in its config.yaml: everything that finds the
# pushed model (predict, serving, lineage) must follow the name, not assume `mnist`.
SERVED_PIPELINE = "digits"
