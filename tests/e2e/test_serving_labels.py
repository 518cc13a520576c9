"""Serving labels and model cards after a real push (the session's `served_home`, read only): the
models config the push wrote, parsed with TF Serving's protos; `serving status --json`;
`predict --label` locally and through the stand-in's label route; the model card in a real
browser, its numbers those of `show --json`. Label changes are tested in
tests/unit/serving/test_registry.py."""
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright

from pipeline.reports import model_card
from pipeline.serving import models_config
from tests.support.cli import cli, cli_json
from tests.support.runs import SERVED_PIPELINE
from tests.support.serving_standin import TFServingStandIn

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _version(served_home) -> int:
    [version] = [int(p.name) for p in (served_home.serving_root / SERVED_PIPELINE).iterdir() if p.name.isdigit()]
    return version


def test_the_push_labelled_its_version_stable_and_status_says_where_it_came_from(served_home):
    version = _version(served_home)
    config_file = served_home.models_config_of(SERVED_PIPELINE)
    [model] = models_config.parse(config_file.read_text()).model_config_list.config
    assert (model.name, dict(model.version_labels)) == (SERVED_PIPELINE, {"stable": version})
    assert list(model.model_version_policy.specific.versions) == [version]
    assert Path(model.base_path) == served_home.serving_root / SERVED_PIPELINE

    status = cli_json(served_home, "serving", "status", "--json")
    [entry] = status["versions"]
    shown = cli_json(served_home, "show", entry["run_id"], "--json")
    assert (entry["version"], entry["labels"], entry["accuracy"]) == (version, ["stable"], shown["accuracy"])
    assert entry["git_commit"] == shown["git_commit"] and entry["blessed"] is True
    assert entry["trained_on_spans"] == shown["trained_on_spans"]
    assert [(c["action"], c["label"], c["version"]) for c in status["history"]] == [("push", "stable", version)]
    assert Path(entry["model_card"]) == served_home.model_card(entry["run_id"], version)


def test_predict_by_label_locally_and_through_the_label_route(served_home, tmp_path):
    from pipeline.data.sources import load_bundled

    version = _version(served_home)
    np.save(tmp_path / "digits.npy", load_bundled()["eval"].head(12).images)
    files = [str(tmp_path / "digits.npy")]
    plain = cli_json(served_home, "predict", "--json", *files)
    stable = cli_json(served_home, "predict", "--json", "--label", "stable", *files)
    assert stable["model"] == str(served_home.serving_root / SERVED_PIPELINE / str(version))
    assert stable["predictions"] == plain["predictions"]
    missing = cli(served_home, "predict", "--label", "canary", *files, merge_stderr=False)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert f"is labelled 'canary'; labels: stable -> {version}" in missing.stderr

    with TFServingStandIn(served_home.serving_root / SERVED_PIPELINE, SERVED_PIPELINE,
                          served_home.models_config_of(SERVED_PIPELINE)) as server:
        remote = cli_json(served_home, "predict", "--json", "--server", server.url, "--label", "stable", *files)
        refused = cli(served_home, "predict", "--server", server.url, "--label", "canary", *files,
                      merge_stderr=False)
        paths = [r["path"] for r in server.requests]
    assert [p["digit"] for p in remote["predictions"]] == [p["digit"] for p in plain["predictions"]]
    assert paths[0] == f"/v1/models/{SERVED_PIPELINE}/labels/stable:predict"
    assert refused.returncode == 2 and "Unrecognized servable version label: canary" in refused.stderr
    assert f"labels in this home's models config: stable -> {version}" in refused.stderr


def test_the_model_card_opens_in_a_real_browser_with_the_numbers_of_show(served_home):
    status = cli_json(served_home, "serving", "status", "--json")
    [entry] = status["versions"]
    shown = cli_json(served_home, "show", entry["run_id"], "--json")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(Path(entry["model_card"]).as_uri())
        accuracy = page.locator("#accuracy").inner_text()
        per_digit = [[cell.inner_text() for cell in row.locator("td").all()]
                     for row in page.locator("#accuracy-per-digit tbody tr").all()]
        robustness = [[cell.inner_text() for cell in row.locator("td").all()]
                      for row in page.locator("#robustness tbody tr").all()]
        labels = page.locator("#labels").inner_text()
        page.locator("a", has_text="the run's report").click()
        report_title = page.title()
        browser.close()
    assert not errors
    assert accuracy == f"{shown['accuracy']:.4f}"
    assert per_digit == [[digit, f"{value:.4f}"] for digit, value in shown["accuracy_per_digit"].items()]
    assert [row[1] for row in robustness] == list(model_card.CONDITIONS)
    clean = float(robustness[0][2].rstrip(" %")) / 100
    assert clean >= shown["accuracy"] - 0.1  # clean pictures of eval digits read about as well as the digits
    assert labels == "stable"
    assert report_title.startswith("MNIST pipeline run")
