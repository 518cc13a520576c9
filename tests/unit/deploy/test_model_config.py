"""TensorFlow Serving's models config in the compose stack: the file the pipeline writes
(pipeline/serving/registry.py) with the compose environment's settings, parsed with TensorFlow
Serving's own ModelServerConfig proto, against the tfserving service's flags and mounts."""
from pathlib import Path, PurePosixPath

from pipeline.config import SERVING_BASE_PATH_ENV, SERVING_POLL_ENV, PipelineConfig
from pipeline.home import Home
from pipeline.serving import models_config
from pipeline.serving.registry import Served
from tests.support.deploy import volume_mounts


def test_tfserving_reads_and_polls_the_models_config_the_pipeline_writes(resolved, tmp_path):
    tfserving = resolved["services"]["tfserving"]
    worker = resolved["services"]["airflow-worker"]["environment"]
    flags = dict(arg.partition("=")[::2] for arg in tfserving["command"])
    assert int(flags["--model_config_file_poll_wait_seconds"]) > 0
    assert int(worker[SERVING_POLL_ENV]) == int(flags["--model_config_file_poll_wait_seconds"])
    assert not any(arg.startswith("--model_base_path") for arg in tfserving["command"])
    mounts = volume_mounts(tfserving)
    [serving_target] = [target for target, (source, _) in mounts.items() if source == "serving"]
    assert worker[SERVING_BASE_PATH_ENV] == serving_target

    # The pipeline, as the workers run it, writes <home>/serving/<name>.models.config; the
    # server reads that same file through its mount of the serving volume.
    home, config = Home(Path(worker["MNIST_PIPELINE_HOME"])), PipelineConfig(serving_base_path=serving_target)
    relative = Served(home, config).config_file.relative_to(home.serving_root)
    assert PurePosixPath(flags["--model_config_file"]) == PurePosixPath(serving_target) / relative
    assert f"[ -f {flags['--model_config_file']} ]" in " ".join(tfserving["entrypoint"])

    # Its base_path is where the server sees the Pusher's folder, <home>/serving/<name>.
    local = Served(Home(tmp_path), config)
    local.write({"stable": 5, "canary": 9})
    [model] = models_config.parse(local.config_file.read_text()).model_config_list.config
    pusher_dir = home.serving_dir(config)
    assert PurePosixPath(model.base_path) == PurePosixPath(serving_target) / pusher_dir.relative_to(home.serving_root)
    assert model.name == config.pipeline_name and dict(model.version_labels) == {"stable": 5, "canary": 9}
