"""Every knob of the pipeline: the `PipelineConfig` dataclass and how it is loaded.

Defaults live in the dataclass. A YAML file holds only overrides (by default
`$MNIST_PIPELINE_HOME/config.yaml`, if it exists), and `--set key=value` on the command line
overrides both.
"""
from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from components.recipe import PRESETS, Recipe
from components.tuning import Budget
from pipeline.errors import ConfigError
from pipeline.home import Home
from pipeline.storage import settings as storage_settings

# The ML Metadata store: empty for SQLite at <home>/metadata.db, or mysql://USER@HOST:PORT/DATABASE,
# with the password in MLMD_PASSWORD_ENV. Set it in the environment (or the home's config.yaml)
# so that the pipeline's tasks and the inspection commands all open the same store.
MLMD_ENV = "MNIST_PIPELINE_MLMD"


MLMD_PASSWORD_ENV = "MNIST_PIPELINE_MLMD_PASSWORD"


# Where the model server mounts <home>/serving (`serving_base_path`), when it is not this machine's path.
SERVING_BASE_PATH_ENV = "MNIST_PIPELINE_SERVING_BASE_PATH"


# How often the model server re-reads the models config (`serving_poll_seconds`).
SERVING_POLL_ENV = "MNIST_PIPELINE_SERVING_POLL_SECONDS"


# No options: Beam's FnApiRunner in the task's process with one worker (pipeline/orchestration/
# beam_runner.py), measured fastest for MNIST on one machine (docs/benchmark.md). Empty on purpose: given any option,
# TFX's Beam executors package TFX itself as an sdist for remote workers, about 3 s each time.
DEFAULT_BEAM_ARGS: tuple[str, ...] = ()


# How the config's value types are named in messages.
KIND_NAMES = {int: "a whole number", float: "a number", str: "text"}


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    # Data. `data_dir` empty: the MNIST prepared under the home folder by `mnist-pipeline data`.
    # Otherwise a folder with `train/` and `eval/` subfolders of `*.tfrecord` files.
    data_dir: str = ""
    train_examples: int = 0  # keep only the first N training examples; 0 = all
    eval_examples: int = 0  # keep only the first N evaluation examples; 0 = all
    # The Trainer learns from the latest N good spans of the data set, this run's included; 0 =
    # all. All by default: digits do not go stale, so every labelled batch keeps helping; set N
    # to bound the training time as spans pile up, or to let old data age out.
    train_spans: int = 0

    # Training: a named preset of the recipe's values (components/recipe.py PRESETS), "" = none.
    # `load_config` applies it beneath the file's and the command line's own values.
    preset: str = ""
    # The recipe's keys, whose defaults and meaning live in components/recipe.py.
    epochs: int = Recipe.epochs
    batch_size: int = Recipe.batch_size
    learning_rate: float = Recipe.learning_rate
    warmup_fraction: float = Recipe.warmup_fraction
    max_shift: float = Recipe.max_shift
    max_rotation: float = Recipe.max_rotation
    max_scale: float = Recipe.max_scale
    label_smoothing: float = Recipe.label_smoothing
    weight_averaging: float = Recipe.weight_averaging
    seed: int = Recipe.seed
    label_noise: float = Recipe.label_noise
    precision: str = Recipe.precision
    conv_filters: int = Recipe.conv_filters
    stages: int = Recipe.stages
    convs_per_stage: int = Recipe.convs_per_stage
    dropout: float = Recipe.dropout
    pool_before_norm: bool = Recipe.pool_before_norm

    # Hyperparameter search (the Tuner, components/tuning.py): how many trials, 0 = none (the
    # default: the recipe as set goes to the Trainer), and the minutes after which no trial starts.
    tune_trials: int = Budget.trials
    tune_minutes: float = Budget.minutes

    # Data validation: the eval split's mean pixel intensity and share of ink pixels may differ
    # from train's by at most this fraction (the label distribution's limit is in the schema).
    max_pixel_shift: float = 0.1

    # Model validation: the Evaluator blesses a model only when its accuracy on the eval split
    # is at least `min_accuracy` and not lower than the latest blessed model's.
    min_accuracy: float = 0.9
    # ... and on no digit lower than the blessed model's accuracy minus this, beyond what chance
    # explains on the eval set (components/evaluator.py: a 95 % confidence bound on the per-digit
    # difference), so that a small eval set cannot refuse a better model over one image.
    max_digit_drop: float = 0.01

    pipeline_name: str = "mnist"

    # Serving (pipeline/serving/models_config.py): the label a newly pushed version gets in TF
    # Serving's models config, `canary` or `stable` (the first pushed version is always stable).
    push_label: str = "canary"
    # Where the model server sees <home>/serving, for the models config's base_path: empty = the
    # same path (a server on this machine); in compose, where tfserving mounts the serving volume.
    serving_base_path: str = dataclasses.field(default_factory=lambda: os.environ.get(SERVING_BASE_PATH_ENV, ""))
    # The model server's --model_config_file_poll_wait_seconds; 0 = no server polls the file. When
    # set, a label in use that moves to a version the server has not loaded is written in two
    # steps this long apart (pipeline/serving/registry.py), as TF Serving requires.
    serving_poll_seconds: int = dataclasses.field(
        default_factory=lambda: int(os.environ.get(SERVING_POLL_ENV, "0") or 0))

    # Apache Beam's pipeline options for the data-heavy components (ImportExampleGen's fallback,
    # StatisticsGen, Transform, Evaluator), as on a command line: e.g. "--runner=FlinkRunner
    # --flink_master=HOST:8081 --environment_type=LOOPBACK". Empty: DEFAULT_BEAM_ARGS, Beam's
    # FnApiRunner in the task's process, which measured fastest on one machine.
    beam_args: str = ""

    # When the DAG runs by itself (pipeline/orchestration/airflow_dag.py): "" = whenever a span
    # lands in the data set (its Asset event, one run per span); or a cron expression ("0 3 * * *"),
    # each run then ingesting the oldest span not yet ingested. Read when Airflow parses the DAG.
    schedule: str = ""

    # A person approves a blessed model in Airflow (Required Actions, or the REST API) before the
    # Pusher runs (pipeline/orchestration/approval.py); no answer within `approval_timeout_minutes`
    # is a rejection. Needs the scheduler (`mnist-pipeline airflow up`).
    require_approval: bool = False
    approval_timeout_minutes: float = 1440.0

    # Where ML Metadata lives (see MLMD_ENV): "" = SQLite in the home folder.
    metadata_store: str = dataclasses.field(default_factory=lambda: os.environ.get(MLMD_ENV, ""))

    def __post_init__(self) -> None:
        # Every range is checked here, at the door: a value that passes must not fail a run later.
        problems = []
        for key in ("train_examples", "eval_examples", "train_spans"):
            if getattr(self, key) < 0:
                problems.append(f"{key} must be 0 (all) or a positive count, got {getattr(self, key)}")
        if self.preset and self.preset not in PRESETS:
            problems.append(f"preset must be empty (the default recipe) or one of {', '.join(PRESETS)}, "
                            f"got {self.preset!r}")
        problems += self.recipe().problems()
        problems += self.tuning_budget().problems()
        try:
            args = self.beam_pipeline_args()
        except ValueError as err:
            args = []
            problems.append(f"beam_args cannot be split into options: {err}")
        problems += [f"beam_args holds {arg!r}, which is not an --option" for arg in args if not arg.startswith("--")]
        for key in ("min_accuracy", "max_digit_drop", "max_pixel_shift"):
            if not 0 <= getattr(self, key) <= 1:
                problems.append(f"{key} must lie in [0, 1], got {getattr(self, key)}")
        if self.push_label not in ("canary", "stable"):
            problems.append(f"push_label must be canary or stable, got {self.push_label!r}")
        if not 0 <= self.serving_poll_seconds <= 600:
            problems.append(f"serving_poll_seconds must be 0 (no server) to 600, got {self.serving_poll_seconds}")
        if self.serving_base_path and not self.serving_base_path.startswith("/"):
            problems.append(f"serving_base_path must be an absolute path or empty, got {self.serving_base_path!r}")
        if not self.pipeline_name.replace("_", "").replace("-", "").isalnum():
            problems.append(f"pipeline_name may hold letters, digits, '-' and '_', got {self.pipeline_name!r}")
        if self.schedule and not _valid_cron(self.schedule):
            problems.append(f"schedule must be empty (a run per new span) or a cron expression such as "
                            f"'0 3 * * *', got {self.schedule!r}")
        if not 0 < self.approval_timeout_minutes <= 60 * 24 * 30:
            problems.append(f"approval_timeout_minutes must lie in (0, 43200] (30 days), got "
                            f"{self.approval_timeout_minutes}")
        if self.metadata_store:
            try:
                mysql_store(self.metadata_store)
            except ValueError as err:
                problems.append(str(err))
        if problems:
            raise ConfigError("; ".join(problems))

    def recipe(self) -> Recipe:
        """The training settings, as the Trainer takes them."""
        return Recipe(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Recipe)})

    def tuning_budget(self) -> Budget:
        return Budget(self.tune_trials, self.tune_minutes)

    def beam_pipeline_args(self) -> list[str]:
        return shlex.split(self.beam_args) if self.beam_args.strip() else list(DEFAULT_BEAM_ARGS)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def overrides(self) -> dict[str, Any]:
        """The keys whose values differ from the defaults."""
        default = PipelineConfig()
        return {k: v for k, v in self.to_dict().items() if getattr(default, k) != v}


def _valid_cron(expression: str) -> bool:
    """Whether Airflow's cron timetables take `expression` (five fields, or a preset such as @daily)."""
    from croniter import croniter

    return croniter.is_valid(expression)


_FIELDS = {f.name: f for f in dataclasses.fields(PipelineConfig)}


def mysql_store(url: str) -> dict[str, Any]:
    """host, port, database and user of a mysql://USER@HOST:PORT/DATABASE store URL."""

    parts = urlsplit(url)
    if parts.scheme != "mysql" or not parts.hostname or not parts.username or len(parts.path) < 2:
        raise ConfigError(f"metadata_store must be empty (SQLite) or mysql://USER@HOST:PORT/DATABASE, got {url!r}")
    if parts.password:
        raise ConfigError(f"metadata_store must not hold a password: put it in ${MLMD_PASSWORD_ENV}")
    return {"host": parts.hostname, "port": parts.port or 3306, "database": parts.path.lstrip("/"),
            "user": parts.username}


def _coerce(key: str, value: Any) -> Any:
    if key == storage_settings.CONFIG_KEY:
        raise ConfigError(f"{key} is where the home keeps its data, artifacts and models, the same for every run: set "
                          f"it in the home's config.yaml or ${storage_settings.STORAGE_ENV}, not per run")
    if key not in _FIELDS:
        known = ", ".join(sorted(_FIELDS))
        raise ConfigError(f"unknown config key {key!r}; known keys: {known}")
    kind = type(getattr(PipelineConfig(), key))
    if kind is bool:
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return bool(value)
    if kind is int and isinstance(value, float) and not value.is_integer():
        raise ConfigError(f"{key} must be a whole number, got {value!r}")
    if kind is int and isinstance(value, bool):
        raise ConfigError(f"{key} must be a whole number, got {value!r}")
    try:
        return kind(value) if value is not None else kind()
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{key} must be {KIND_NAMES.get(kind, kind.__name__)}, got {value!r}") from None


def parse_assignments(assignments: Iterable[str]) -> dict[str, Any]:
    """Turn `key=value` strings from the command line into a dict (values still strings)."""
    result = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set takes key=value, got {item!r}")
        result[key.strip()] = value.strip()
    return result


def load_config(
    config_file: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    home: Home | None = None,
) -> PipelineConfig:
    """Defaults, then the preset named by either of the next two, then the YAML file (explicit, or
    the home's `config.yaml`), then overrides."""
    values: dict[str, Any] = {}
    path = Path(config_file) if config_file else (home or Home.from_env()).config_file
    if config_file and not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    if path.is_file():
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of key: value lines")
        loaded.pop("airflow", None)  # where Airflow runs, not how the pipeline runs: AirflowProfile
        loaded.pop(storage_settings.CONFIG_KEY, None)  # where the home keeps things: Home.storage
        values.update(loaded)
    values.update(overrides or {})
    values = {**PRESETS.get(str(values.get("preset") or ""), {}), **values}
    return PipelineConfig(**{k: _coerce(k, v) for k, v in values.items()})

