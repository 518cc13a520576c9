"""Process-wide settings that the stack needs, applied before TensorFlow is imported.

TF 2.16 makes Keras 3 the default `tf.keras`, but TFX 1.16, TF Transform and TF Model Analysis
are built on Keras 2: `TF_USE_LEGACY_KERAS=1` switches `tf.keras` to tf-keras. It only works if
set before the first `import tensorflow`, so every entry point (CLI, DAG file, tests, component
code) imports the `pipeline` or `components` package first, and both call `configure()`.

This module is the bottom layer: it imports nothing of the project, so component code can use
it without pulling in the orchestration side (`pipeline.services.environment` builds Airflow's
environment on top of these settings).
"""
import importlib.util
import logging
import os
import warnings

DEFAULTS = {
    "TF_USE_LEGACY_KERAS": "1",
    # TensorFlow's C++ log below ERROR: its INFO lines (CPU feature banners, oneDNN notices) drown
    # the task logs, and the only WARNING these tasks print is TF 2.16's "Local rendezvous is
    # aborting with status: OUT_OF_RANGE: End of sequence" at the end of every dataset read (a
    # normal end; later TensorFlow logs it at VLOG). C++ errors still show.
    "TF_CPP_MIN_LOG_LEVEL": "2",
    # google-api-core warns on every import that Python 3.11 support ends in 2027; TFX pulls it
    # in dozens of times. A prefix match, so it silences nothing else.
    "PYTHONWARNINGS": "ignore:You are using a Python version:FutureWarning",
}


def configure() -> None:
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
    warnings.filterwarnings("ignore", message="You are using a Python version", category=FutureWarning)
    # Beam logs "Using Any for unsupported type: typing.MutableMapping[str, typing.Any]" at INFO
    # about 60 times while TFX's modules are imported: nothing a reader of a task log can act on.
    logging.getLogger("apache_beam.typehints.native_type_compatibility").setLevel(logging.WARNING)
    # Beam warns when imported that crcmod is missing, which its TFRecord checksums need only
    # without google-crc32c or python-snappy: with google-crc32c installed, the warning is wrong.
    if importlib.util.find_spec("google_crc32c"):
        logging.getLogger().addFilter(_not_crcmod_warning)


def _not_crcmod_warning(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("crcmod package not found")


def quiet_tensorflow() -> None:
    """For a process that reads results with TensorFlow but runs nothing: no import chatter."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    for name in ("tensorflow", "absl", "apache_beam"):
        logging.getLogger(name).setLevel(logging.ERROR)


def log_through_root() -> None:
    """In a task process: TensorFlow's Python log goes through the root logger's handlers (Airflow's,
    at each record's own level), not through the stderr handler TensorFlow adds when it is imported
    before logging is set up (the task workers preload it). Airflow 3 shows whatever a task writes
    to stderr as ERROR lines, so every INFO and WARNING of TensorFlow read as an error, and twice."""
    logger = logging.getLogger("tensorflow")
    for handler in list(logger.handlers):
        if type(handler) is logging.StreamHandler:  # TensorFlow's own; not a file or another kind
            logger.removeHandler(handler)
    logger.propagate = True
