"""Every path a run writes: the home folder (`~/.mnist-pipeline`, or `$MNIST_PIPELINE_HOME`) and
everything under it.
"""
from __future__ import annotations

import dataclasses
import datetime
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import ConfigError
from pipeline.storage import settings

if TYPE_CHECKING:
    from pipeline.config import PipelineConfig


HOME_ENV = "MNIST_PIPELINE_HOME"


DEFAULT_HOME = "~/.mnist-pipeline"


@dataclasses.dataclass(frozen=True)
class Home:
    """The one place that knows where a run's files live.

    `root` is this machine's folder: its settings, locks, logs, SQLite stores and Airflow. What
    runs write for others to read (data sets, artifacts, pushed models, reports) lies under
    `store`: the same folder, or the object storage that `storage` names (pipeline/storage/).
    """

    root: Path
    storage: str = ""

    @classmethod
    def from_env(cls) -> Home:
        root = Path(os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise ConfigError(f"the home {root} (${HOME_ENV}) is a file, not a folder: point ${HOME_ENV} at a "
                              "folder (it is created if missing)")
        return cls(root, settings.storage_url(root))

    @property
    def store(self) -> Path:
        """Where stored things live: `storage` (s3://BUCKET/PREFIX), else the home's folder."""
        from pipeline.storage import files  # fsspec: 0.2 s, which the DAG's parse need not pay

        return files.path(self.storage or self.root)

    @property
    def config_file(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metadata_db(self) -> Path:
        return self.root / "metadata.db"

    @property
    def serving_root(self) -> Path:
        return self.store / "serving"

    def model_dir(self, name: str) -> Path:
        """TensorFlow Serving's layout: <serving>/<model name>/<version>/saved_model.pb."""
        return self.serving_root / name

    def serving_dir(self, config: PipelineConfig) -> Path:
        """Where the Pusher pushes: the model is named after the pipeline."""
        return self.model_dir(config.pipeline_name)

    def models_config(self, config: PipelineConfig) -> Path:
        """TensorFlow Serving's models config for the pipeline (`pipeline.serving.models_config`)."""
        return self.models_config_of(config.pipeline_name)

    def models_config_of(self, model_name: str) -> Path:
        return self.serving_root / f"{model_name}.models.config"

    def pipeline_root(self, config: PipelineConfig) -> Path:
        return self.store / "pipelines" / config.pipeline_name

    @property
    def reports(self) -> Path:
        return self.store / "reports"

    def report_file(self, run_id: str) -> Path:
        """A run's HTML report: <reports>/<run id, made safe as a folder name>/index.html."""
        return self.reports / re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id) / "index.html"

    def confusion_matrix(self, model_id: int, examples_id: int) -> Path:
        """A trained model's confusion matrix on an examples artifact's eval split, computed once
        (`pipeline.reports.report`): an unchanged re-run's report reads it, not classifying again."""
        return self.reports / "confusion" / f"model-{model_id}-examples-{examples_id}.json"

    def model_card(self, run_id: str, version: int | str) -> Path:
        """A pushed version's model card, next to its run's report (`pipeline.reports.model_card`)."""
        return self.report_file(run_id).with_name(f"model-card-{version}.html")

    @property
    def run_lock(self) -> Path:
        """The lock a run holds on this home (`pipeline.services.home_lock`)."""
        return self.root / "run.lock"

    @property
    def serving_lock(self) -> Path:
        """The lock every change of TF Serving's models config takes (`pipeline.serving.registry`):
        a local file, also when the config is stored."""
        return self.root / "serving.lock"

    @property
    def reports_lock(self) -> Path:
        """The lock the Airflow plugin takes while it writes a missing report (a local file)."""
        return self.root / "reports.lock"

    @property
    def object_store(self) -> Path:
        """`mnist-pipeline storage up`'s SeaweedFS server: its data, log, keys and state."""
        return self.root / "object-store"

    @property
    def staged_schemas(self) -> Path:
        return self.store / "schema"

    @property
    def airflow_home(self) -> Path:
        return self.root / "airflow"

    @property
    def airflow_services(self) -> Path:
        """`mnist-pipeline airflow up`'s pid files, process logs and API credentials."""
        return self.airflow_home / "services"

    @property
    def services_state(self) -> Path:
        """What `airflow up` started: processes, port, executor (`pipeline.services.lifecycle`)."""
        return self.airflow_services / "services.json"

    @property
    def api_credentials(self) -> Path:
        """The API user's name and password, readable by its owner only (`pipeline.services.logins`)."""
        return self.airflow_services / "api-user.json"

    def service_file(self, name: str, suffix: str) -> Path:
        """An Airflow process's files: `<name>.log`, `<name>.pid`, `<name>.airflow-pid`."""
        return self.airflow_services / f"{name}.{suffix}"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def run_log(self, started: datetime.datetime) -> Path:
        """The full output of the `mnist-pipeline run` started at `started`."""
        return self.logs / f"run-{started.strftime('%Y%m%dT%H%M%S')}.log"

    @property
    def mnist_data(self) -> Path:
        """The home's data set: `mnist-pipeline data` writes it (MNIST, IDX files or your own
        images) as spans, span-1/, span-2/, ... each with train/ and eval/ TFRecords."""
        return self.store / "data" / "mnist"

    @property
    def slices(self) -> Path:
        """Cuts of a data set to `train_examples`/`eval_examples`, span by span."""
        return self.store / "data" / "slices"

    @property
    def verified_inputs(self) -> Path:
        """What input folders were last verified as (`pipeline.data.inputs.ensure_input`)."""
        return self.root / "data" / "verified"

    def source_data(self, config: PipelineConfig) -> Path:
        from pipeline.storage import files

        if not config.data_dir:
            return self.mnist_data
        return files.path(config.data_dir if settings.is_remote(config.data_dir)
                          else Path(config.data_dir).expanduser().resolve())

