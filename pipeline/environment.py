"""Process-wide settings that the stack needs, applied before TensorFlow is imported.

TF 2.16 makes Keras 3 the default `tf.keras`, but TFX 1.16, TF Transform and TF Model Analysis
are built on Keras 2: `TF_USE_LEGACY_KERAS=1` switches `tf.keras` to tf-keras. It only works if
set before the first `import tensorflow`, so every entry point (CLI, DAG file, tests) imports
this package first.
"""
import os
import warnings

_DEFAULTS = {
    "TF_USE_LEGACY_KERAS": "1",
    # TensorFlow's C++ INFO lines (CPU feature banners, oneDNN notices) drown the task logs.
    "TF_CPP_MIN_LOG_LEVEL": "1",
    # google-api-core warns on every import that Python 3.11 support ends in 2027; TFX pulls it
    # in dozens of times. A prefix match, so it silences nothing else.
    "PYTHONWARNINGS": "ignore:You are using a Python version:FutureWarning",
}


def configure() -> None:
    for key, value in _DEFAULTS.items():
        os.environ.setdefault(key, value)
    warnings.filterwarnings("ignore", message="You are using a Python version", category=FutureWarning)


def quiet_tensorflow() -> None:
    """For a process that reads results with TensorFlow but runs nothing: no import chatter."""
    import logging

    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    for name in ("tensorflow", "absl", "apache_beam"):
        logging.getLogger(name).setLevel(logging.ERROR)


def airflow_environment(home) -> dict[str, str]:
    """The environment for Airflow processes working on `home` (a `pipeline.config.Home`).

    Airflow keeps its config, SQLite database and logs under <home>/airflow and reads the DAG
    from this package's `dags/` folder; the user never sets any of this by hand.
    """
    from dags import DAGS_FOLDER
    from pipeline.config import HOME_ENV

    env = dict(os.environ)
    env.update({
        HOME_ENV: str(home.root),
        "AIRFLOW_HOME": str(home.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home.airflow_home / 'airflow.db'}",
        # Building the DAG imports TFX (seconds); Airflow's 30 s default is too tight on a busy machine.
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "300",
        "AIRFLOW__CORE__DAG_FILE_PROCESSOR_TIMEOUT": "600",
    })
    for key, value in _DEFAULTS.items():
        env.setdefault(key, value)
    return env
