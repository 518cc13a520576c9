"""TensorFlow Serving's models config in the compose stack: the file the pipeline writes
(pipeline/serving/registry.py) with the compose environment's settings, parsed with TensorFlow
Serving's own ModelServerConfig proto, against the tfserving service's flags: both in the bucket."""
from pathlib import Path

from pipeline.config import SERVING_POLL_ENV, PipelineConfig
from pipeline.home import Home
from pipeline.serving import models_config
from pipeline.serving.registry import Served
from pipeline.storage.settings import STORAGE_ENV
from tests.support.deploy import volume_mounts


def test_tfserving_reads_and_polls_the_models_config_the_pipeline_writes_in_the_bucket(resolved):
    tfserving = resolved["services"]["tfserving"]
    worker = resolved["services"]["airflow-worker"]["environment"]
    flags = dict(arg.partition("=")[::2] for arg in tfserving["command"])
    assert int(flags["--model_config_file_poll_wait_seconds"]) > 0
    assert int(worker[SERVING_POLL_ENV]) == int(flags["--model_config_file_poll_wait_seconds"])
    assert not any(arg.startswith("--model_base_path") for arg in tfserving["command"])
    assert volume_mounts(tfserving) == {}, "TF Serving reads the models from the bucket, no volume"

    # The pipeline, as the workers run it, writes <storage>/serving/<name>.models.config; the
    # server reads that very object.
    home, config = Home(Path(worker["MNIST_PIPELINE_HOME"]), worker[STORAGE_ENV]), PipelineConfig()
    served = Served(home, config)
    assert flags["--model_config_file"] == str(served.config_file)
    assert flags["--model_config_file"].startswith("s3://")

    # Its base_path is the bucket's folder the Pusher writes the versions in.
    [model] = models_config.parse(models_config.render(served.name, served.base_path, {"stable": 5, "canary": 9})
                                  ).model_config_list.config
    assert model.base_path == str(home.serving_dir(config)) == f"{worker[STORAGE_ENV]}/serving/{config.pipeline_name}"
    assert model.name == config.pipeline_name and dict(model.version_labels) == {"stable": 5, "canary": 9}
