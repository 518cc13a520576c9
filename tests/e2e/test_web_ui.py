"""Airflow 3's web UI in a real browser (Debian's Chromium, headless, driven by Playwright): log in
with the admin login `mnist-pipeline airflow up` printed (a wrong password is refused), trigger the
DAG with a JSON conf of overrides, watch every task succeed, read the Trainer's epochs in its log,
open the run's report from the run page, save screenshots. Airflow runs on the production profile:
PostgreSQL, MLMD on MariaDB, LocalExecutor."""
import json
import time
import urllib.parse

import pytest
from playwright.sync_api import sync_playwright

from pipeline.definition.pipeline import NODES
from pipeline.orchestration.airflow_dag import DAG_ID, PREPARE_TASK, REPORT_TASK
from pipeline.orchestration.approval import APPROVAL_TASK
from tests.support.airflow import airflow_up
from tests.support.cli import cli, environment
from tests.support.local_databases import mariadb_store_here

CHROMIUM = "/usr/bin/chromium"
# As root, without a sandbox; no calls to Google's services, which this closed network refuses.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TASKS = [PREPARE_TASK, *NODES, APPROVAL_TASK, REPORT_TASK]  # approval off: approve_push succeeds at once
CONF = {"train_examples": 1000, "eval_examples": 500, "epochs": 1, "seed": 11}
RUN_ID = "ui_triggered_1"


@pytest.fixture(scope="module")
def airflow(home_for_module):
    with mariadb_store_here():
        env = environment(home_for_module)
        assert cli(home_for_module, "data", "--limit", "1000", env=env).returncode == 0
        with airflow_up(home_for_module, env, "local") as running:
            yield running


def _log_in(page, url: str, password: str) -> None:
    page.goto(f"{url}/auth/login/")
    page.fill("input#username", "admin")
    page.fill("input#password", password)
    page.click("input[type=submit]")
    page.wait_for_load_state("networkidle")


def _trigger_with_conf(page, conf: dict, run_id: str) -> None:
    """The DAG page's Trigger dialog: a run id and the conf typed into its JSON editor."""
    page.get_by_test_id("trigger-dag-button").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Advanced Options").click()
    dialog.get_by_label("Run ID").fill(run_id)
    dialog.locator(".monaco-editor .view-lines").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(json.dumps(conf))
    # The editor closes brackets and quotes as they are typed: drop what it added after the text.
    page.keyboard.press("Control+Shift+End")
    page.keyboard.press("Delete")
    dialog.get_by_label("Run ID").click()  # leave the editor: it reformats the JSON and the form settles
    time.sleep(1.5)
    dialog.get_by_test_id("trigger-dag-submit").click()
    dialog.wait_for(state="detached", timeout=30_000)


def _task_states(page) -> dict[str, str]:
    """Task id -> the state shown in the run page's table of task instances."""
    states = {}
    for row in page.locator("tbody tr").all():
        links = row.get_by_role("link").all()
        badge = row.get_by_test_id("state-badge")
        if links and badge.count():
            states[links[0].inner_text().strip()] = badge.first.inner_text().strip()
    return states


def test_log_in_trigger_with_a_conf_and_follow_the_run_to_its_report(airflow, tmp_path_factory):
    screenshots = tmp_path_factory.mktemp("screenshots")
    run_page = f"{airflow.url}/dags/{DAG_ID}/runs/{RUN_ID}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})

        _log_in(page, airflow.url, "admin")
        assert "Invalid login" in page.content()  # never admin/admin
        _log_in(page, airflow.url, airflow.admin_password)
        assert "/auth/login" not in page.url

        page.goto(f"{airflow.url}/dags/{DAG_ID}")
        page.wait_for_load_state("networkidle")
        for task in TASKS:  # the grid's task list, drawn by script after the page loads
            page.get_by_test_id(f"task-{task}").wait_for(timeout=60_000)
        _trigger_with_conf(page, CONF, RUN_ID)
        page.wait_for_url(f"{run_page}**")

        deadline, states = time.monotonic() + 1200, {}
        while time.monotonic() < deadline:
            page.goto(run_page)
            page.wait_for_load_state("networkidle")
            page.get_by_test_id("state-badge").first.wait_for(timeout=60_000)
            states = _task_states(page)
            if "Failed" in states.values():
                page.screenshot(path=str(screenshots / "failed.png"), full_page=True)
                pytest.fail(f"a task failed in the UI: {states}; screenshot {screenshots / 'failed.png'}")
            if sorted(states) == sorted(TASKS) and set(states.values()) == {"Success"}:
                break
            time.sleep(10)
        else:
            pytest.fail(f"not every task succeeded in 20 minutes: {states}")
        page.screenshot(path=str(screenshots / "all-green.png"), full_page=True)
        # The run's own state: the scheduler sets it on its next loop after the last task ends.
        badge, deadline = "", time.monotonic() + 120
        while time.monotonic() < deadline:
            badge = page.get_by_test_id("state-badge").first.inner_text().strip()
            if badge != "Running":
                break
            time.sleep(5)
            page.goto(run_page)
            page.wait_for_load_state("networkidle")
            page.get_by_test_id("state-badge").first.wait_for(timeout=60_000)
        assert badge == "Success"

        # The Trainer's log, in the UI, shows its epoch lines.
        page.goto(f"{run_page}/tasks/Trainer")
        page.get_by_text("epoch 1/1", exact=False).first.wait_for(timeout=60_000)
        page.screenshot(path=str(screenshots / "trainer-log.png"), full_page=True)

        # The run's report: one click from the run page (the plugin's tab), served behind the login.
        page.goto(run_page)
        page.wait_for_load_state("networkidle")
        # Exact: the grid's write_report task is a link whose name also holds "report".
        page.get_by_role("link", name="Run report", exact=True).or_(
            page.get_by_role("tab", name="Run report", exact=True)).first.click()
        report = page.frame_locator("iframe").first
        report.get_by_text("Evaluation").first.wait_for(timeout=120_000)
        page.screenshot(path=str(screenshots / "report.png"), full_page=True)
        print(f"screenshots: {screenshots}")
        browser.close()
    assert (screenshots / "all-green.png").stat().st_size > 10_000

    # What the page showed is what Airflow recorded, and the conf reached the tasks.
    run = airflow.api(f"/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(RUN_ID)}")
    assert run.ok and run.json()["state"] == "success" and run.json()["conf"] == CONF
    from pipeline.metadata.runs import summarize_run

    assert summarize_run(airflow.home, RUN_ID).config["train_examples"] == CONF["train_examples"]
