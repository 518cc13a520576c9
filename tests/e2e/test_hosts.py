"""Celery workers on other hosts: the scheduler and API server on one "host" (the root network
namespace), two workers each in a network namespace of its own, with its own home, sharing no
file with the others; they reach PostgreSQL, Redis and MariaDB (which listen on the loopback only)
through a forwarder on the bridge's address, and a SeaweedFS S3 server that listens there.

One `airflow up --workers 0 --host ADDR`, one run (tasks on both workers, every artifact in S3),
then a run whose Trainer's worker host loses all its processes (SIGKILL): the Trainer is retried
on the other worker, upstream comes from MLMD, and the run succeeds.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess

import psutil
import pytest

from pipeline.home import HOME_ENV, Home
from pipeline.metadata.runs import component_runs
from pipeline.metadata.store import open_store
from pipeline.services import processes
from pipeline.services.object_store import Keys, Server, aws_environment, ensure_bucket
from pipeline.services.profiles import API_URL_ENV, CELERY_QUEUE_ENV
from pipeline.storage.settings import STORAGE_ENV
from tests.support.airflow import Airflow, airflow_up, task_instances, triggered_run_id
from tests.support.cli import cli, command
from tests.support.hosts import forwarded, hosts, namespaces_of_this_test
from tests.support.local_databases import mariadb_store_here

SLICE = ["--set", "train_examples=1000", "--set", "eval_examples=500", "--set", "epochs=1"]
UPSTREAM = ["ImportExampleGen", "ImportSchemaGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
            "DataValidationGate", "Transform"]
BUCKET = "mnist-hosts"
WORKERS = ["w1", "w2"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"),
                                reason="network namespaces need root and iproute2")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The hosts, the forwarder, SeaweedFS, a fresh MLMD store and Airflow DB, `airflow up` on
    the scheduler host and `airflow worker` on each worker host; everything removed after."""
    root = tmp_path_factory.mktemp("hosts")
    tag = f"mnist-{os.getpid()}-"
    with hosts(WORKERS) as net, forwarded(net.address, [5432, 6379, 3306]) as ports, mariadb_store_here() as store:
        # A SeaweedFS server of its own, on the bridge's address (the session's `object_store` listens
        # on the loopback, which the namespaces cannot reach).
        s3 = Server(root / "s3", Keys.generate(), processes.free_port(), host=net.address)
        s3.start()
        scheduler_home = Home(root / "scheduler")
        try:
            ensure_bucket(BUCKET, s3.endpoint, s3.keys)
            mlmd = store["MNIST_PIPELINE_MLMD"].replace("@127.0.0.1:3306/", f"@{net.address}:{ports[3306]}/")
            shared = {
                **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MNIST_PIPELINE_"))},
                "MNIST_PIPELINE_MLMD": mlmd, "MNIST_PIPELINE_MLMD_PASSWORD": store["MNIST_PIPELINE_MLMD_PASSWORD"],
                "MNIST_PIPELINE_EXECUTOR": "celery",
                "MNIST_PIPELINE_CELERY_BROKER": f"redis://{net.address}:{ports[6379]}/0",
                CELERY_QUEUE_ENV: f"mnist-hosts-{secrets.token_hex(4)}",
                STORAGE_ENV: f"s3://{BUCKET}/team",
                **aws_environment(s3.endpoint, s3.keys),
                # The keys every host of one Airflow shares, as a team sets them (never on a command line).
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(16),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(16),
                # Quick failure detection and retries, so that the lost host costs a minute, not five.
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
                "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "5",
            }
            assert cli(scheduler_home, "data", "--limit", "1000", env=shared).returncode == 0
            with airflow_up(scheduler_home, shared, "celery", workers=0, host=net.address,
                            database_at=f"{net.address}:{ports[5432]}") as airflow:
                worker_env = {**airflow.env, API_URL_ENV: airflow.url}
                starts = {}
                for name in WORKERS:
                    host = net[name]
                    env = {**worker_env, HOME_ENV: str(root / name)}
                    starts[name] = subprocess.Popen(host.command(command("airflow", "worker", "--name", host.address)),
                                                    env=env, text=True, stdout=subprocess.PIPE,
                                                    stderr=subprocess.STDOUT)
                outputs = {name: p.communicate(timeout=600)[0] for name, p in starts.items()}
                print(outputs)
                assert all(p.returncode == 0 for p in starts.values()), outputs
                yield {"net": net, "airflow": airflow, "worker_env": worker_env, "root": root, "outputs": outputs,
                       "up_output": airflow.up_output}
                for name in WORKERS:
                    cli(root / name, "airflow", "down", env=worker_env)
        finally:
            s3.stop(timeout=0)
    assert namespaces_of_this_test(tag) == []
    for name in ("scheduler", *WORKERS):
        assert processes.home_processes(Home(root / name)) == [], name


def _worker_home(cluster, name: str) -> Home:
    return Home(cluster["root"] / name)


def _run(airflow: Airflow, *args: str, until=None):
    """`mnist-pipeline run ARGS` on the scheduler host; with `until(line)`, calls it on each line of
    output as it comes (it may act: kill a host)."""
    process = subprocess.Popen(command("run", *SLICE, *args), env=airflow.env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if until:
            until(line, "".join(lines))
    process.wait(timeout=1800)
    output = "".join(lines)
    print(output)
    return process.returncode, output


@pytest.fixture(scope="module")
def first_run(cluster):
    return _run(cluster["airflow"])


@pytest.fixture(scope="module")
def killed_run(cluster, first_run):
    """A run (new seed: the Trainer trains, upstream is in MLMD already) whose Trainer's worker host
    loses every process it runs (SIGKILL), while the Trainer runs."""
    airflow, net = cluster["airflow"], cluster["net"]
    killed: dict = {}

    def kill_the_trainer_s_host(line: str, output: str) -> None:
        if killed or not re.search(r"Trainer\s+running", line):
            return
        run_id = triggered_run_id(output)
        [trainer] = [t for t in task_instances(airflow, run_id) if t["task_id"] == "Trainer"]
        [host] = [h for h in net.hosts.values() if h.address == trainer["hostname"]]
        killed.update(host=host, pids=host.kill_all(), run_id=run_id)
        killed["status"] = json.loads(cli(_worker_home(cluster, host.name), "airflow", "status", "--json",
                                          env=cluster["worker_env"], merge_stderr=False).stdout)

    code, output = _run(airflow, "--set", "seed=7", until=kill_the_trainer_s_host)
    assert killed, output
    return {"code": code, "output": output, **killed}


def test_up_serves_the_api_on_the_bridge_and_starts_no_worker(cluster):
    airflow, net = cluster["airflow"], cluster["net"]
    status = airflow.status()
    assert status["healthy"] and status["executor"] == "CeleryExecutor"
    assert set(status["processes"]) == {"scheduler", "dag-processor", "api-server"}
    port = airflow.url.rsplit(":", 1)[1]
    assert status["processes"]["api-server"]["listening"] == [f"{net.address}:{port}"]
    assert "workers on other hosts: `mnist-pipeline airflow worker`" in cluster["up_output"]


def test_each_worker_runs_in_its_namespace_with_its_own_home(cluster):
    net = cluster["net"]
    for name in WORKERS:
        home, host = _worker_home(cluster, name), net[name]
        status = json.loads(cli(home, "airflow", "status", "--json", env=cluster["worker_env"],
                                merge_stderr=False).stdout)
        assert status["healthy"] and status["role"] == "worker" and status["name"] == host.address, status
        assert status["queue"] == cluster["worker_env"][CELERY_QUEUE_ENV]
        assert status["processes"]["worker"]["pid"] in host.pids()
        assert f"as {host.address}" in cluster["outputs"][name]


def test_run_on_a_worker_host_is_refused(cluster):
    refused = cli(_worker_home(cluster, "w1"), "run", *SLICE, env=cluster["worker_env"])
    assert refused.returncode == 2 and "runs only a Celery worker" in refused.stdout


def test_a_run_completes_with_tasks_on_both_workers_and_artifacts_in_s3(cluster, first_run):
    code, output = first_run
    assert code == 0, output
    assert "ended without a result" not in output  # every task's log was read from its worker's host
    assert "epoch 1/1" in output
    run_id = triggered_run_id(output)
    hosts_used = {t["hostname"] for t in task_instances(cluster["airflow"], run_id) if t["state"] == "success"}
    assert hosts_used == {cluster["net"][name].address for name in WORKERS}, hosts_used
    store = open_store(cluster["airflow"].home)
    uris = [a.uri for a in store.get_artifacts()]
    assert uris and all(uri.startswith(f"s3://{BUCKET}/team/") for uri in uris), uris
    for name in ("scheduler", *WORKERS):  # nothing stored on any host's disk
        home = cluster["root"] / name
        assert not (home / "pipelines").exists() and not (home / "serving").exists()


def test_a_lost_worker_host_s_trainer_is_retried_on_the_other_and_the_run_succeeds(cluster, killed_run):
    assert killed_run["code"] == 0, killed_run["output"]
    assert re.search(r"Trainer\s+FAILED\s+attempt 1 ended without a result", killed_run["output"])
    assert killed_run["status"]["processes"]["worker"]["running"] is False
    assert killed_run["host"].pids() == []
    run_id = killed_run["run_id"]
    [trainer] = [t for t in task_instances(cluster["airflow"], run_id) if t["task_id"] == "Trainer"]
    [survivor] = [cluster["net"][n] for n in WORKERS if n != killed_run["host"].name]
    assert trainer["state"] == "success" and trainer["try_number"] == 2 and trainer["hostname"] == survivor.address
    store = open_store(cluster["airflow"].home)
    runs = component_runs(store, run_id)
    assert runs["Trainer"].state == "COMPLETE" and runs["Evaluator"].state == "COMPLETE"
    assert [a.id for a in runs["Trainer"].inputs["transform_graph"]] == \
        [a.id for a in runs["Transform"].outputs["transform_graph"]]
    data_side = [c for c in UPSTREAM if c != "Transform"]
    assert {c: runs[c].state for c in data_side} == {c: "CACHED" for c in data_side}
    # Nothing upstream ran again after the loss: each upstream task's one try is the run's.
    tries = {t["task_id"]: t["try_number"] for t in task_instances(cluster["airflow"], run_id)}
    assert {c: tries[c] for c in UPSTREAM} == {c: 1 for c in UPSTREAM}
    assert all(a.uri.startswith("s3://") for a in store.get_artifacts())


def test_nothing_of_the_killed_host_outlives_it(cluster, killed_run):
    assert not [p for p in killed_run["pids"] if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert processes.home_processes(_worker_home(cluster, killed_run["host"].name)) == []

