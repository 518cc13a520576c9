"""Airflow drives the model's life, on one `mnist-pipeline airflow up` (embedded profile) shared by
the file's tests: a span written by `data --next-span` starts a run that ingests exactly it (the
data set's partitioned Asset), spans written back to back give one run each, and with
`require_approval` a person approves (the Pusher runs), rejects (the serving folder stays
byte-identical) or lets the time limit pass (nothing is pushed), each through one REST call, while
`run` shows where the request waits and then the decision; MLMD and `show --json` keep each one.

Small slices (1,000 / 300 per span, 1 epoch). The first model, trained on shuffled labels, is
weak on purpose, so that the clean models after it pass the Evaluator's "not below the baseline";
each approval run uses a pipeline name of its own (no baseline there), so it is always blessed.
"""
from __future__ import annotations

import hashlib
import re
import subprocess
import time
import urllib.parse

import pytest
import requests
from playwright.sync_api import sync_playwright

from components.nodes import REFUSED_PROPERTY
from pipeline.metadata.runs import component_runs
from pipeline.metadata.store import open_store
from pipeline.orchestration.airflow_dag import DAG_ID
from pipeline.orchestration.approval import APPROVAL_TASK
from pipeline.services import processes
from tests.support.cli import cli, cli_json, command, environment

SLICE = ["--limit", "1000", "--eval-limit", "300"]
ANSWER_AFTER = 5  # seconds after the request waits (see `_run_waiting_for_approval`)
CHROMIUM = "/usr/bin/chromium"
# As root, without a sandbox; no calls to Google's services, which this closed network refuses.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


class Scheduler:
    """The running Airflow, reached as its admin."""

    def __init__(self, url: str, password: str):
        self.url, self.password = url, password

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        token = requests.post(f"{self.url}/auth/token", json={"username": "admin", "password": self.password},
                              timeout=60).json()["access_token"]
        return requests.request(method, f"{self.url}/api/v2{path}", timeout=60,
                                headers={"Authorization": f"Bearer {token}"}, **kwargs)

    def runs(self) -> list[dict]:
        return self.call("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 100}).json()["dag_runs"]

    def finished_run_for(self, span: int, timeout: float = 900) -> dict:
        """The asset-triggered run for `span` (its partition key), once it has ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [r for r in self.runs() if r.get("partition_key") == str(span)]
            if found and found[0]["state"] not in ("queued", "running"):
                return found[0]
            time.sleep(3)
        raise AssertionError(f"no finished run for span {span} after {timeout} s: {self.runs()}")

    def answer(self, run_id: str, option: str, comment: str) -> requests.Response:
        """The documented REST answer (docs/airflow.md): one PATCH."""
        quoted = urllib.parse.quote(run_id, safe="")
        return self.call("PATCH", f"/dags/{DAG_ID}/dagRuns/{quoted}/taskInstances/{APPROVAL_TASK}/-1/hitlDetails",
                         json={"chosen_options": [option], "params_input": {"comment": comment}})


@pytest.fixture(scope="module")
def airflow(home_for_module):
    home = home_for_module
    env = environment(home)
    home.root.mkdir(parents=True, exist_ok=True)
    home.config_file.write_text("epochs: 1\nmin_accuracy: 0.3\n")
    cli(home, "data", *SLICE, env=env, check=True)
    # Span 1 in-process, on shuffled labels: a weak first baseline.
    cli(home, "run", "--set", "label_noise=0.6", env=env, check=True)
    up = cli(home, "airflow", "up", "--port", str(processes.free_port()), env=env, timeout=900)
    try:
        assert up.returncode == 0, up.stdout
        url = re.search(r"web UI:\s+(\S+)", up.stdout).group(1)
        yield home, env, Scheduler(url, re.search(r"login:\s+admin / (\S+)", up.stdout).group(1))
    finally:
        cli(home, "airflow", "down", env=env)


def _serving_digest(home) -> str:
    digest = hashlib.sha256()
    for path in sorted(home.serving_root.rglob("*")) if home.serving_root.exists() else []:
        digest.update(str(path.relative_to(home.serving_root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_a_new_span_starts_a_run_that_ingests_it_and_pushes(airflow):
    home, env, scheduler = airflow
    written = cli(home, "data", "--next-span", *SLICE, env=env, check=True)
    assert "Airflow is up for this home: emitted the data set's event for span 2" in written.stdout
    run = scheduler.finished_run_for(2)
    assert (run["state"], run["run_type"]) == ("success", "asset_triggered")
    shown = cli_json(home, "show", run["dag_run_id"], env=env)
    assert shown["ingested_span"]["span"] == 2
    assert [s["span"] for s in shown["trained_on_spans"]] == [1, 2]
    assert shown["blessed"] and shown["pushed_version"]
    assert (home.serving_root / "mnist" / shown["pushed_version"] / "saved_model.pb").is_file()
    events = scheduler.call("GET", "/assets/events", params={"limit": 100}).json()["asset_events"]
    assert [e["partition_key"] for e in events] == ["2"]


def test_two_spans_written_back_to_back_give_two_runs_one_span_each(airflow):
    home, env, scheduler = airflow
    for _ in range(2):
        cli(home, "data", "--next-span", *SLICE, env=env, check=True)
    runs = {span: scheduler.finished_run_for(span) for span in (3, 4)}
    assert runs[3]["dag_run_id"] != runs[4]["dag_run_id"]
    for span, run in runs.items():
        assert run["state"] == "success"
        assert cli_json(home, "show", run["dag_run_id"], env=env)["ingested_span"]["span"] == span
    # One run per span: none lost, none twice.
    keys = [r.get("partition_key") for r in scheduler.runs() if r["run_type"] == "asset_triggered"]
    assert sorted(keys) == ["2", "3", "4"]


def _run_waiting_for_approval(home, env, pipeline_name: str, *sets: str):
    """`mnist-pipeline run` with approval on, for a pipeline of its own, read until it waits."""
    args = ["run", "--set", f"pipeline_name={pipeline_name}", "--set", "require_approval=true", *sets]
    process = subprocess.Popen(command(*args), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "waiting for approval at" in line:
            run_id = re.search(r"/runs/(.+?)/tasks/", line).group(1)
            # Airflow 3.3.2 fails the step when the answer comes before the executor has reported
            # the parking workload's end (about a second): no person is that quick, a script is.
            time.sleep(ANSWER_AFTER)
            return process, run_id, lines
    process.wait()
    raise AssertionError("the run never waited for approval:\n" + "".join(lines))


def _rest_of(process, lines) -> str:
    lines += list(process.stdout)
    assert process.wait(timeout=600) == 0, "".join(lines)
    return "".join(lines)


def test_in_chromium_the_assets_page_shows_the_events_and_an_approver_approves(airflow, tmp_path):
    home, env, scheduler = airflow
    process, run_id, lines = _run_waiting_for_approval(home, env, "browser")
    waiting_at = re.search(r"waiting for approval at (\S+)", lines[-1]).group(1)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{scheduler.url}/auth/login/")
        page.fill("input#username", "admin")
        page.fill("input#password", scheduler.password)
        page.click("input[type=submit]")
        page.wait_for_load_state("networkidle")
        page.goto(f"{scheduler.url}/assets")
        page.get_by_text("mnist_data_set").first.click()
        for span in (2, 3, 4):  # each event, with its span as the partition key
            page.get_by_text(f"Partition Key: {span}").wait_for(timeout=60_000)
        page.screenshot(path=str(tmp_path / "asset-events.png"), full_page=True)

        page.goto(waiting_at)  # the run's Required Actions, where `run` said it waits
        page.get_by_text("The Evaluator blessed this model").wait_for(timeout=60_000)
        for shown in ("per digit", "Learnt from span(s) 1", "The run's report"):
            page.get_by_text(shown).first.wait_for(timeout=10_000)
        page.locator("[name=element_comment]").fill("approved in the browser")
        page.screenshot(path=str(tmp_path / "required-action.png"), full_page=True)
        page.get_by_role("button", name="Approve", exact=True).click()
        output = _rest_of(process, lines)
        browser.close()
    assert "approve_push                   APPROVED" in output
    shown = cli_json(home, "show", run_id, env=env)
    assert (shown["approval"]["decision"], shown["approval"]["by"], shown["approval"]["comment"]) == (
        "approved", "admin", "approved in the browser")
    assert (home.serving_root / "browser" / shown["pushed_version"] / "saved_model.pb").is_file()


def test_approved_through_the_rest_api_the_model_is_pushed(airflow):
    home, env, scheduler = airflow
    process, run_id, lines = _run_waiting_for_approval(home, env, "approve")
    request = scheduler.call("GET", f"/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances/"
                                    f"{APPROVAL_TASK}/-1/hitlDetails").json()
    assert "The Evaluator blessed this model" in request["body"] and "per digit" in request["body"]
    assert "Learnt from span(s)" in request["body"] and "/report)" in request["body"]
    assert scheduler.answer(run_id, "Approve", "looks right").ok
    output = _rest_of(process, lines)
    assert "approve_push                   APPROVED" in output
    assert re.search(r"approval:\s+approved by admin at \S+: \"looks right\"", output)
    shown = cli_json(home, "show", run_id, env=env)
    assert shown["approval"]["decision"] == "approved" and shown["approval"]["by"] == "admin"
    assert shown["approval"]["comment"] == "looks right"
    assert (home.serving_root / "approve" / shown["pushed_version"] / "saved_model.pb").is_file()


def test_rejected_the_serving_folder_stays_byte_identical(airflow):
    home, env, scheduler = airflow
    process, run_id, lines = _run_waiting_for_approval(home, env, "reject")
    before = _serving_digest(home)
    assert scheduler.answer(run_id, "Reject", "not this week").ok
    output = _rest_of(process, lines)
    assert "approve_push                   REJECTED" in output
    assert _serving_digest(home) == before and not (home.serving_root / "reject").exists()
    shown = cli_json(home, "show", run_id, env=env)
    assert shown["approval"]["decision"] == "rejected" and shown["approval"]["comment"] == "not this week"
    assert shown["pushed_version"] is None and "Pusher" not in shown["components"]
    assert "approval: rejected by admin" in cli(home, "runs", env=env).stdout
    # Still blessed by the Evaluator, but marked refused: no later run takes it as its baseline.
    [blessing] = component_runs(open_store(home), run_id)["Evaluator"].outputs["blessing"]
    assert blessing.custom_properties[REFUSED_PROPERTY].string_value == "rejected"


def test_no_answer_within_the_time_limit_is_a_rejection(airflow):
    home, env, _ = airflow
    before = _serving_digest(home)
    process, run_id, lines = _run_waiting_for_approval(home, env, "timeout", "--set", "approval_timeout_minutes=0.2")
    output = _rest_of(process, lines)
    assert "approve_push                   TIMED OUT" in output
    assert "rejected: nobody answered within 0.2 min" in output
    assert _serving_digest(home) == before
    shown = cli_json(home, "show", run_id, env=env)
    assert shown["approval"]["decision"] == "timed out" and shown["pushed_version"] is None
