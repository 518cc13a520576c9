"""The Airflow plugin: a run's report and each component's results inside Airflow's UI.

The pages are checked on a metadata store written through ML Metadata the way TFX's launcher
writes it (executions in the run's and the node's contexts, artifacts with their properties, and
real anomalies files). Airflow's auth and database are stand-ins here; tests/e2e/test_airflow_api_server.py
starts a real `airflow api-server` with FAB logins and checks the pages there.
"""
import html
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

from pipeline.home import Home
from pipeline.metadata.records import record_run
from pipeline.metadata.store import (
    NODE_CONTEXT,
    PIPELINE_RUN_CONTEXT,
    connection_config,
)
from pipeline.orchestration.airflow_dag import DAG_ID
from pipeline.services import airflow_plugin
from tests.support.plugin_pages import RUN, report_url, task_url

ANOMALY = "Unexpectedly large value: 12. <script>alert(1)</script>"
FAILURE = "digit 7: accuracy -0.0300 against the baseline (allowed drop 0.0100)"


class Store:
    """Writes executions and artifacts into MLMD as TFX's launcher does."""

    def __init__(self, home: Home, root: Path):
        home.root.mkdir(parents=True, exist_ok=True)
        self.store = metadata_store.MetadataStore(connection_config(home))
        self.root = root

    def artifact(self, type_name: str, name: str, **properties) -> pb.Artifact:
        type_id = self.store.put_artifact_type(pb.ArtifactType(name=type_name))
        artifact = pb.Artifact(type_id=type_id, uri=str(self.root / name), state=pb.Artifact.LIVE)
        for key, value in properties.items():
            field = {int: "int_value", float: "double_value", str: "string_value"}[type(value)]
            setattr(artifact.custom_properties[key], field, value)
        [artifact.id] = self.store.put_artifacts([artifact])
        return artifact

    def execution(self, run_id: str, node_id: str, state, inputs=None, outputs=None) -> int:
        type_id = self.store.put_execution_type(pb.ExecutionType(name=f"tfx.components.{node_id}"))
        node_type = self.store.put_context_type(pb.ContextType(name=NODE_CONTEXT))
        node = self.store.get_context_by_type_and_name(NODE_CONTEXT, f"mnist.{node_id}") or \
            pb.Context(type_id=node_type, name=f"mnist.{node_id}")
        run = self.store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id)
        events = [(artifact, pb.Event(type=kind, path=pb.Event.Path(steps=[pb.Event.Path.Step(key=key)])))
                  for kind, side in ((pb.Event.INPUT, inputs or {}), (pb.Event.OUTPUT, outputs or {}))
                  for key, artifact in side.items()]
        execution_id, _, _ = self.store.put_execution(pb.Execution(type_id=type_id, last_known_state=state),
                                                      events, [run, node])
        return execution_id


def write_anomalies(uri: str, split: str, descriptions: list) -> None:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    anomalies = anomalies_pb2.Anomalies()
    for description in descriptions:
        info = anomalies.anomaly_info["label"]
        info.reason.add(type=anomalies_pb2.AnomalyInfo.INT_TYPE_BIG_INT, description=description)
    folder = Path(uri, f"Split-{split}")
    folder.mkdir(parents=True)
    (folder / "SchemaDiff.pb").write_bytes(anomalies.SerializeToString())


@pytest.fixture
def recorded(home, tmp_path) -> Store:
    """A run whose data had an anomaly, whose cached model was not blessed against a baseline."""
    store = Store(home, tmp_path / "artifacts")
    record_run(home, "manual__earlier", {})
    baseline = store.artifact("Model", "Trainer/model/1")
    store.execution("manual__earlier", "Trainer", pb.Execution.COMPLETE, outputs={"model": baseline})

    record_run(home, RUN, {"epochs": 1, "min_accuracy": 0.9, "max_digit_drop": 0.01,
                                    "data_dir": "<i>mine</i>"})
    examples = store.artifact("Examples", "ImportExampleGen/examples/2")
    store.execution(RUN, "ImportExampleGen", pb.Execution.COMPLETE, outputs={"examples": examples})
    anomalies = store.artifact("ExampleAnomalies", "ExampleValidator/anomalies/3")
    write_anomalies(anomalies.uri, "train", [ANOMALY])
    write_anomalies(anomalies.uri, "eval", [])
    store.execution(RUN, "ExampleValidator", pb.Execution.COMPLETE, inputs={"examples": examples},
                    outputs={"anomalies": anomalies})
    findings = store.artifact("ExampleAnomalies", "DataValidationGate/findings/4")
    for split in ("train", "eval"):
        write_anomalies(findings.uri, split, [])
    store.execution(RUN, "DataValidationGate", pb.Execution.COMPLETE, outputs={"findings": findings})
    model = store.artifact("Model", "Trainer/model/5")
    store.execution(RUN, "Trainer", pb.Execution.CACHED, inputs={"examples": examples}, outputs={"model": model})
    evaluation = store.artifact("ModelEvaluation", "Evaluator/evaluation/6", accuracy=0.95,
                                accuracy_per_digit=json.dumps({"0": 0.99, "7": 0.91}))
    blessing = store.artifact("ModelBlessing", "Evaluator/blessing/6", blessed=0, baseline_model_id=baseline.id,
                              validation_failures=json.dumps([FAILURE]))
    store.execution(RUN, "Evaluator", pb.Execution.COMPLETE, inputs={"model": model, "baseline_model": baseline},
                    outputs={"evaluation": evaluation, "blessing": blessing})
    pushed = store.artifact("PushedModel", "Pusher/pushed_model/7", pushed=0)
    store.execution(RUN, "Pusher", pb.Execution.COMPLETE, inputs={"model": model}, outputs={"pushed_model": pushed})
    store.baseline = baseline
    return store


def client(airflow_state="success"):
    """The plugin's app, with Airflow's access checks passed and Airflow's DAG run state given:
    both need Airflow's database, which the real API server below provides."""
    from fastapi.testclient import TestClient

    app = airflow_plugin.create_app()
    for check in app.state.access_checks:
        app.dependency_overrides[check] = lambda: None
    app.dependency_overrides[airflow_plugin.airflow_run_state] = lambda: airflow_state
    return TestClient(app)


def test_importing_the_plugin_loads_neither_tensorflow_nor_tfx(tmp_path):
    """Every Airflow process imports the plugin; building its app (in the API server) stays light too."""
    code = ("import sys, pipeline.services.airflow_plugin as plugin\n"
            "heavy = lambda: sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'tfx', 'fastapi'})\n"
            "print('loaded:', heavy())\n"
            "plugin.create_app()\n"
            "print('loaded:', heavy())\n")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    loaded = [line for line in result.stdout.splitlines() if line.startswith("loaded:")]
    assert loaded == ["loaded: []", "loaded: ['fastapi']"]


def test_the_views_are_tabs_of_the_run_and_the_task_linking_to_the_pages():
    from airflow.api_fastapi.core_api.datamodels.plugins import (
        ExternalViewResponse,
        FastAPIAppResponse,
    )

    plugin = airflow_plugin.MnistPipelinePlugin
    [mount] = plugin.fastapi_apps
    FastAPIAppResponse.model_validate({**mount, "app": "?"})
    views = {view["destination"]: ExternalViewResponse.model_validate(view) for view in plugin.external_views}
    assert set(views) == {"dag_run", "task_instance"} and all(v.url_route for v in views.values())
    # The UI fills in the templates; what it gets is a page of the app mounted at url_prefix.
    filled = {d: v.href.replace("{DAG_ID}", DAG_ID).replace("{RUN_ID}", "r").replace("{TASK_ID}", "Evaluator")
              for d, v in views.items()}
    assert filled == {"dag_run": f"{mount['url_prefix']}/dags/{DAG_ID}/runs/r/report",
                      "task_instance": f"{mount['url_prefix']}/dags/{DAG_ID}/runs/r/tasks/Evaluator"}


def test_a_caller_without_a_token_is_refused(home):
    from fastapi.testclient import TestClient

    app = TestClient(airflow_plugin.create_app())
    for url in (report_url(), task_url("Evaluator")):
        response = app.get(url)
        assert response.status_code == 401 and "Not authenticated" in response.text


def test_the_evaluator_shows_its_verdict_and_baseline(recorded):
    response = client().get(task_url("Evaluator"))
    assert response.status_code == 200
    page = response.text
    assert "NOT blessed" in page and FAILURE in page and "0.9500" in page and "min_accuracy 0.9" in page
    assert "<td>7</td><td>0.9100</td>" in page
    # The baseline named as `show` names it: by the run that trained it (never pushed here).
    assert (f"NOT blessed, against the baseline, a model never pushed from run manual__earlier "
            f"(model {recorded.baseline.id})") in page
    assert "ModelBlessing" in page and "Evaluator/blessing/6" in page  # its artifacts


def test_the_validators_show_their_anomalies_escaped(recorded):
    page = client().get(task_url("ExampleValidator")).text
    assert "1 anomaly" in page and "INT_TYPE_BIG_INT" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert "No anomalies" in client().get(task_url("DataValidationGate")).text


def test_other_tasks_show_state_time_and_artifacts(recorded):
    page = client().get(task_url("Trainer")).text
    assert "CACHED" in page and "taken from an earlier run" in page and "Trainer/model/5" in page
    assert "Not pushed" in client().get(task_url("Pusher")).text
    page = client().get(task_url("prepare_data")).text
    assert "&quot;epochs&quot;: 1" in page and "&lt;i&gt;mine&lt;/i&gt;" in page
    assert "has no execution in ML Metadata" in client().get(task_url("SchemaGen")).text


def test_unknown_dags_runs_and_tasks_are_clear_404s(home, recorded):
    home.reports.mkdir(parents=True)
    (home.root / "index.html").write_text("not a report")  # where a run id ".." would lead
    cases = {task_url("Evaluator", dag_id="other_dag"): "Not this pipeline's DAG",
             task_url("Evaluator", run_id="manual__nope"): "No such run",
             task_url("Nope"): "No such task", report_url("manual__nope"): "No such run",
             f"/dags/{DAG_ID}/runs/%2E%2E/report": "No such run",  # reports/../index.html
             f"/dags/{DAG_ID}/runs/{RUN}": "no such page"}
    for url, title in cases.items():
        response = client(airflow_state=None).get(url)
        assert (response.status_code, html.escape(title) in response.text) == (404, True), url
    page = client(airflow_state="queued").get(task_url("Evaluator", run_id="manual__queued")).text
    assert "recorded nothing in ML Metadata yet" in page


def test_a_written_report_is_served_and_a_running_run_has_none_yet(home, recorded):
    response = client(airflow_state="running").get(report_url())
    assert response.status_code == 404 and "No report yet" in response.text and "running" in response.text
    path = home.report_file(RUN)
    path.parent.mkdir(parents=True)
    path.write_text("<html><body>the report</body></html>")
    response = client().get(report_url())
    assert response.status_code == 200 and response.text == path.read_text()
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]  # no script runs in the frame
    assert '<a href="../report">' in client().get(task_url("Evaluator")).text


def test_an_ended_run_without_a_report_gets_one_written(home, recorded):
    """By `mnist-pipeline report` in a child process: TensorFlow stays out of the API server."""
    assert not home.report_file(RUN).exists()
    response = client(airflow_state="failed").get(report_url())
    assert response.status_code == 200, response.text
    assert home.report_file(RUN).is_file() and "<b>NOT blessed, against the baseline" in response.text


def test_the_reports_link_to_its_model_card_is_served_and_the_card_links_back(home, recorded):
    card = home.model_card(RUN, 1796348467)
    card.parent.mkdir(parents=True)
    card.write_text("<html><body>the card</body></html>")
    base = report_url().rsplit("/", 1)[0]
    response = client().get(f"{base}/{card.name}")
    assert response.status_code == 200 and response.text == card.read_text()
    assert client().get(f"{base}/model-card-1.html").status_code == 404
    back = client().get(f"{base}/index.html", follow_redirects=False)
    assert back.status_code in (302, 307) and back.headers["location"] == "report"


def test_the_pusher_page_links_to_the_model_card_once_the_report_is_written():
    from components import nodes
    from pipeline.metadata.runs import ComponentRun, RunSummary
    from pipeline.services import airflow_pages

    pusher = ComponentRun(nodes.PUSHER, "COMPLETE", 7, 0, 1000, {}, {})
    summary = RunSummary(RUN, {nodes.PUSHER: pusher}, pushed=True, pushed_version="1796348467")
    written = airflow_pages.task_page(nodes.PUSHER, summary, pusher, {}, report_exists=True)
    assert '<a href="../model-card-1796348467.html">The model card of version 1796348467</a>' in written
    assert "model-card" not in airflow_pages.task_page(nodes.PUSHER, summary, pusher, {}, report_exists=False)
