"""TensorFlow Serving's model config (deploy/models.config), parsed with TensorFlow Serving's own
ModelServerConfig proto, against the compose file's tfserving service and the Pusher's folder."""
from pathlib import Path, PurePosixPath

from pipeline.config import PipelineConfig
from tests.support.deploy import MODEL_CONFIG, volume_mounts


def test_model_config_serves_the_folder_the_pusher_writes(resolved):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    from pipeline.home import Home

    config = text_format.Parse(MODEL_CONFIG.read_text(), model_server_config_pb2.ModelServerConfig())
    [model] = config.model_config_list.config
    pipeline_name = PipelineConfig().pipeline_name
    assert model.name == pipeline_name
    assert model.model_platform == "tensorflow"
    assert model.model_version_policy.WhichOneof("policy_choice") == "latest"
    assert model.model_version_policy.latest.num_versions >= 1

    tfserving = resolved["services"]["tfserving"]
    mounts = volume_mounts(tfserving)
    [config_flag] = [arg for arg in tfserving["command"] if arg.startswith("--model_config_file=")]
    config_path = config_flag.partition("=")[2]
    assert Path(mounts[config_path][0]).resolve() == MODEL_CONFIG.resolve()
    assert not any(arg.startswith("--model_base_path") for arg in tfserving["command"])

    # base_path is <where tfserving mounts the serving volume>/<pipeline name>, and the Airflow
    # services mount that same volume at Home.serving_root: the Pusher's <home>/serving/<name>.
    [serving_target] = [target for target, (source, _) in mounts.items() if source == "serving"]
    home = Home(Path(resolved["services"]["airflow-worker"]["environment"]["MNIST_PIPELINE_HOME"]))
    pusher_dir = home.serving_dir(PipelineConfig())
    assert PurePosixPath(model.base_path) == PurePosixPath(serving_target) / pusher_dir.relative_to(home.serving_root)

