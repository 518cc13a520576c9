"""Storage in a real S3 server (SeaweedFS, tests/support/object_store.py): a run whose data, artifacts,
pushed model and report all live in a bucket, and the settings a run refuses before it writes anything."""
import json
import os
import signal
import subprocess
import time
import uuid

import numpy as np
import pytest
import s3fs

from pipeline.metadata.runs import latest_run_id, summarize_run
from pipeline.metadata.store import open_store
from pipeline.services import object_store as object_store_server
from pipeline.storage import files
from pipeline.storage.settings import STORAGE_ENV
from tests.support import synthetic_digits
from tests.support.cli import cli, command, environment

SLICE = ["--set", "train_examples=3000", "--set", "eval_examples=1000", "--set", "epochs=1"]
# Only the Trainer (and what follows it) runs again: its seed changed.
OTHER_SEED = [*SLICE, "--set", "seed=7"]


@pytest.fixture(scope="module")
def stored(object_store, home_for_module):
    """The module's home, with its storage under a prefix of its own in the test bucket; the
    environment its commands run with (the AWS_* variables and MNIST_PIPELINE_STORAGE)."""
    url = f"s3://{object_store.bucket}/{uuid.uuid4().hex[:8]}"
    env = {**os.environ, **object_store.env, STORAGE_ENV: url}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for key, value in {**object_store.env, STORAGE_ENV: url}.items():
            monkeypatch.setenv(key, value)
        yield home_for_module, env, url


@pytest.fixture(scope="module")
def first_run(stored):
    home, env, _ = stored
    assert cli(home, "data", "--limit", "3000", env=env).returncode == 0
    return cli(home, "run", *SLICE, env=env)


def _bucket(store) -> s3fs.S3FileSystem:
    return object_store_server.filesystem(store.endpoint, store.keys)


def test_the_run_completes_with_every_artifact_in_the_bucket_and_none_in_the_home(stored, first_run):
    home, _, url = stored
    assert first_run.returncode == 0, first_run.stdout
    uris = [a.uri for a in open_store(home).get_artifacts()]
    assert uris and [u for u in uris if not u.startswith(url + "/")] == []
    for local in ("pipelines", "serving", "reports", "schema", "data/mnist", "data/slices"):
        assert not (home.root / local).exists(), f"{local} was written in the home, not the bucket"
    assert f"pushed:     {url}/serving/mnist/" in first_run.stdout


def test_the_pushed_model_is_in_the_bucket_and_predict_answers_from_it(object_store, stored, first_run, tmp_path):
    home, env, url = stored
    store = open_store(home)
    pushed = summarize_run(home, latest_run_id(store), store).pushed_path
    assert pushed.startswith(f"{url}/serving/mnist/")
    assert _bucket(object_store).exists(f"{pushed[len('s3://'):]}/saved_model.pb")
    rng = np.random.default_rng(3)
    paths = []
    for digit in range(10):
        path = tmp_path / f"{digit}.png"
        synthetic_digits.font_digit(digit, rng).save(path)
        paths.append(path)
    done = cli(home, "predict", "--json", *map(str, paths), env=env, merge_stderr=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["errors"] == [] and len(result["predictions"]) == 10


def test_show_lineage_and_the_report_read_the_stored_artifacts(object_store, stored, first_run):
    home, env, url = stored
    shown = cli(home, "show", env=env, check=True)
    assert "ImportExampleGen" in shown.stdout and url in shown.stdout
    store = open_store(home)
    run_id = latest_run_id(store)
    pushed = summarize_run(home, run_id, store).pushed_path
    lineage = cli(home, "lineage", pushed, env=env, check=True)
    assert f"{url}/pipelines/mnist/ImportExampleGen/examples/" in lineage.stdout
    [report] = [line.split("report:", 1)[1].strip() for line in first_run.stdout.splitlines() if "report:" in line]
    assert report.startswith(f"{url}/reports/")
    page = _bucket(object_store).cat_file(report[len("s3://"):]).decode()
    assert run_id in page and 'id="confusion-matrix"' in page


def test_an_unchanged_re_run_is_all_cached(stored, first_run):
    home, env, _ = stored
    again = cli(home, "run", *SLICE, env=env)
    assert again.returncode == 0, again.stdout
    for node in ("ImportExampleGen", "StatisticsGen", "Transform", "Trainer", "Evaluator", "Pusher"):
        assert f"{node:<30} CACHED" in again.stdout


def test_resume_after_the_trainer_was_stopped_completes_it(stored, first_run):
    home, env, _ = stored
    process = subprocess.Popen(command("run", *OTHER_SEED), env=environment(home, env), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    lines, deadline = [], time.monotonic() + 900
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if "Trainer" in line and "running" in line:
            time.sleep(3)  # into its epochs
            os.killpg(process.pid, signal.SIGTERM)
            break
        assert time.monotonic() < deadline, "".join(lines)
    rest = process.communicate(timeout=120)[0]
    assert process.returncode == 143, "".join(lines) + rest
    resumed = cli(home, "resume", env=env)
    assert resumed.returncode == 0, resumed.stdout
    assert f"{'Transform':<30} CACHED" in resumed.stdout and f"{'Trainer':<30} COMPLETE" in resumed.stdout
    assert [a.uri for a in open_store(home).get_artifacts() if not a.uri.startswith("s3://")] == []


@pytest.mark.parametrize("problem, change, says", [
    ("missing bucket", {STORAGE_ENV: "s3://no-such-bucket-here/x"}, "bucket 'no-such-bucket-here' does not exist"),
    ("wrong credentials", {"AWS_SECRET_ACCESS_KEY": "not-the-secret"}, "refused the credentials"),
    ("unreachable endpoint", {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, "cannot reach the S3 API"),
])
def test_bad_storage_is_refused_in_one_line_with_nothing_written(object_store, home, problem, change, says):
    url = f"s3://{object_store.bucket}/{uuid.uuid4().hex[:8]}"
    env = {**os.environ, **object_store.env, STORAGE_ENV: url, **change}
    for args in (["data", "--limit", "100"], ["run", *SLICE]):
        done = cli(home, *args, env=env, merge_stderr=False, timeout=120)
        assert done.returncode == 2, done.stdout + done.stderr
        errors = done.stderr.strip().splitlines()
        assert len(errors) == 1 and says in errors[0], done.stderr
    assert files.objects(url) == []
    assert not (home.root / "metadata.db").exists() and not (home.root / "airflow").exists()
