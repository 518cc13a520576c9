"""An Airflow 3 plugin: each run's report, and each component's results, one click from the DAG
run and the task instance in Airflow's UI, behind Airflow's own login.

- `fastapi_apps`: the API server mounts this module's app at /mnist-pipeline, with two pages:
    /mnist-pipeline/dags/{dag_id}/runs/{run_id}/report            the run's HTML report
    /mnist-pipeline/dags/{dag_id}/runs/{run_id}/tasks/{task_id}   a task's state, time and artifacts,
                                                                   its anomalies or the model gate's verdict
  Every page checks the caller with Airflow's own auth dependencies (the JWT of the UI's `_token`
  cookie, or an `Authorization: Bearer` token): read access to the DAG's runs, or task instances.
- `external_views`: a "Run report" tab on each DAG run and a "Component results" tab on each task
  instance, each a frame onto one of those pages. Airflow 3.3 cannot limit a view to one DAG, so
  the tabs show on every DAG; for another DAG the pages say that they show this pipeline only.

Airflow finds the plugin through the `airflow.plugins` entry point (pyproject.toml). Every Airflow
process loads plugins, the scheduler, the DAG processor and each task included, so importing this
module stays light: the app is built on its first request, in the API server, and TensorFlow never
enters it (a missing report is written by a child process, `mnist-pipeline report`). Where the runs
live comes from the environment, as everywhere: $MNIST_PIPELINE_HOME, $MNIST_PIPELINE_MLMD.
The reports and model cards are read through the file layer (`pipeline.storage`): from the home's
folder, or from the bucket its storage names.
"""
import fcntl
import re
import subprocess
import sys
from urllib.parse import urlsplit

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin

from components import nodes
from pipeline.home import Home
from pipeline.services.airflow_api import RUN_UNFINISHED
from pipeline.services.plugin_routes import REPORT_ROUTE, URL_PREFIX

TASK_ROUTE = "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}"
# The pushed version's model card, beside the report as the report's relative link finds it.
MODEL_CARD_ROUTE = "/dags/{dag_id}/runs/{run_id}/model-card-{version}.html"
VALIDATORS = (nodes.EXAMPLE_VALIDATOR, nodes.DATA_GATE)
# Inline styles and embedded (data:) images, nothing else; framed only by Airflow's own pages.
PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
REPORT_TIMEOUT = 600  # seconds to write a missing report (the full eval split is classified)
# Taken while a missing report is written: a local file of the home's folder (an flock), also when
# the reports themselves are stored.
REPORTS_LOCK = "reports.lock"


class PageError(Exception):
    """Ends a request with a page that says what is missing or wrong."""

    def __init__(self, status: int, title: str, text: str, hint: str = ""):
        super().__init__(text)
        self.status, self.title, self.text, self.hint = status, title, text, hint


def airflow_run_state(dag_id: str, run_id: str) -> str | None:
    """The DAG run's state in Airflow's database (queued, running, success, failed), or None when
    Airflow knows no such run. A dependency of every page (the API server has the database)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        state = session.scalar(select(DagRun.state).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    return str(state) if state else None


def _open_store(home: Home):
    """The metadata store, or None when no run has recorded anything in this home yet."""
    from pipeline.metadata.store import open_store

    try:
        return open_store(home)
    except FileNotFoundError:
        return None
    except RuntimeError as err:  # a MySQL server that does not answer
        raise PageError(503, "The metadata store cannot be read", str(err),
                        "The API server needs the same MNIST_PIPELINE_MLMD settings as the tasks.") from None


def _summary(home: Home, store, run_id: str):
    from pipeline.metadata.runs import summarize_run

    try:
        return summarize_run(home, run_id, store) if store else None
    except LookupError:
        return None


def _no_such_run(dag_id: str, run_id: str) -> PageError:
    return PageError(404, "No such run", f"Neither Airflow nor ML Metadata knows a run {run_id!r} of {dag_id}.")


def _write_report(home: Home, run_id: str) -> None:
    """Write a finished run's missing report, in a child process: TensorFlow stays out of the API
    server. One at a time, whichever API server worker asks, and not again once written."""

    home.root.mkdir(parents=True, exist_ok=True)
    with open(home.root / REPORTS_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if home.report_file(run_id).is_file():
            return
        try:
            result = subprocess.run([sys.executable, "-m", "pipeline.cli.main", "report", "--", run_id],
                                    capture_output=True, text=True, timeout=REPORT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise PageError(500, "The report could not be written",
                            f"`mnist-pipeline report {run_id}` did not finish in {REPORT_TIMEOUT} s.") from None
    if result.returncode != 0:
        last = "\n".join(result.stderr.strip().splitlines()[-5:])
        raise PageError(500, "The report could not be written", last or f"exit status {result.returncode}",
                        f"Write it by hand with `mnist-pipeline report {run_id}`.")


def _in_reports(home: Home, path) -> bool:
    """Whether `path` (a report or model card) lies in a run's folder of the reports, not (by a
    run id like "..") elsewhere. Stored paths resolve as URIs, local ones as files."""
    return path.resolve().parent.parent == home.reports.resolve()


def _html_file(path):
    """A stored or local HTML file's content, read through the file layer (`Home.report_file`)."""
    from fastapi.responses import Response

    return Response(path.read_bytes(), media_type="text/html")


def create_app():
    """The pages, as a FastAPI app for Airflow's API server to mount."""
    from airflow.api_fastapi.auth.managers.models.resource_details import (
        DagAccessEntity,
    )
    from airflow.api_fastapi.core_api.security import requires_access_dag
    from fastapi import Depends, FastAPI, Request
    from fastapi.responses import HTMLResponse, RedirectResponse
    from starlette.exceptions import HTTPException

    from pipeline.definition.pipeline import NODES
    from pipeline.metadata.lineage import describe_artifact, model_origin
    from pipeline.orchestration.airflow_dag import DAG_ID, PREPARE_TASK, REPORT_TASK
    from pipeline.reports.anomalies import found_in_run
    from pipeline.services import airflow_pages as pages

    app = FastAPI(title="MNIST pipeline: reports and results", docs_url=None, redoc_url=None, openapi_url=None)
    # Airflow's own checks: who the caller is (JWT), and whether they may read this DAG's runs/tasks.
    can_read_run = requires_access_dag("GET", DagAccessEntity.RUN)
    can_read_task = requires_access_dag("GET", DagAccessEntity.TASK_INSTANCE)
    app.state.access_checks = (can_read_run, can_read_task)
    task_ids = (PREPARE_TASK, *NODES, REPORT_TASK)

    @app.middleware("http")
    async def no_scripts(request: Request, call_next):
        """The UI frames these pages with scripts and its own origin allowed: so they carry none,
        and a policy makes sure nothing in them (a report, a description) could ever run."""
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = PAGE_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.exception_handler(PageError)
    def page_error(request: Request, err: PageError):
        return HTMLResponse(pages.message(err.title, err.text, err.hint), status_code=err.status)

    @app.exception_handler(HTTPException)  # Airflow's refusals (401, 403), and paths of no page
    def http_error(request: Request, err: HTTPException):
        refused = err.status_code in (401, 403)
        return HTMLResponse(pages.message(f"{err.status_code}: {err.detail}",
                                          "Airflow refused this page." if refused else "There is no such page here.",
                                          "Log in to Airflow again, or ask an admin for access to this DAG."
                                          if refused else ""),
                            status_code=err.status_code, headers=err.headers)

    def ours(dag_id: str) -> None:
        if dag_id != DAG_ID:
            raise PageError(404, "Not this pipeline's DAG", f"These pages show runs of the DAG {DAG_ID} only, "
                                                            f"not of {dag_id}.")

    @app.get(REPORT_ROUTE, dependencies=[Depends(can_read_run)])
    def run_report(dag_id: str, run_id: str, airflow_state: str | None = Depends(airflow_run_state)):
        ours(dag_id)
        home = Home.from_env()
        path = home.report_file(run_id)
        if not _in_reports(home, path):  # a run id like ".."
            raise _no_such_run(dag_id, run_id)
        if not path.is_file():
            summary = _summary(home, _open_store(home), run_id)
            if summary is None and airflow_state is None:
                raise _no_such_run(dag_id, run_id)
            if airflow_state in RUN_UNFINISHED or (airflow_state is None and summary.state == "RUNNING"):
                raise PageError(404, "No report yet", f"Run {run_id} is {airflow_state or 'running'}: its last task, "
                                f"{REPORT_TASK}, writes the report when every other task has ended.",
                                "Open this tab again when the run has ended.")
            if summary is None:
                raise PageError(404, "No report", f"Run {run_id} ended ({airflow_state}) before {PREPARE_TASK} "
                                "recorded it in ML Metadata: there is nothing to report on.")
            _write_report(home, run_id)  # it ended without one: write_report failed, or the file was removed
        return _html_file(path)

    @app.get(MODEL_CARD_ROUTE, dependencies=[Depends(can_read_run)])
    def model_card(dag_id: str, run_id: str, version: int):
        ours(dag_id)
        home = Home.from_env()
        path = home.model_card(run_id, version)
        if not _in_reports(home, path) or not path.is_file():
            raise PageError(404, "No model card", f"Run {run_id} has no model card of version {version}: a card "
                            f"is written with the report of the run that pushed the version.")
        return _html_file(path)

    @app.get("/dags/{dag_id}/runs/{run_id}/index.html", dependencies=[Depends(can_read_run)])
    def report_by_file_name(dag_id: str, run_id: str):
        """The model card's link back to its report (index.html beside it, as files)."""
        ours(dag_id)
        return RedirectResponse("report")

    @app.get(TASK_ROUTE, dependencies=[Depends(can_read_task)])
    def task_results(dag_id: str, run_id: str, task_id: str,
                     airflow_state: str | None = Depends(airflow_run_state)):
        ours(dag_id)
        if task_id not in task_ids:
            raise PageError(404, "No such task", f"{DAG_ID} has no task {task_id!r}; its tasks: {', '.join(task_ids)}.")
        home = Home.from_env()
        store = _open_store(home)
        summary = _summary(home, store, run_id)
        if summary is None:
            if airflow_state is None:
                raise _no_such_run(dag_id, run_id)
            return HTMLResponse(pages.message(
                f"{task_id} in run {run_id}", f"The run is {airflow_state} and has recorded nothing in ML Metadata "
                f"yet: its first task, {PREPARE_TASK}, records it."))
        component = summary.components.get(task_id)
        type_names = {t.id: t.name for t in store.get_artifact_types()}
        artifacts = {side: {key: [describe_artifact(store, a, type_names) for a in items]
                            for key, items in getattr(component, side).items()}
                     for side in ("inputs", "outputs")} if component else {}
        anomalies = found_in_run({task_id: component}) if component and task_id in VALIDATORS else None
        baseline = None
        if task_id == nodes.EVALUATOR and summary.baseline_model_id:
            baseline = model_origin(store, summary.baseline_model_id)
        return HTMLResponse(pages.task_page(task_id, summary, component, artifacts,
                                            home.report_file(run_id).is_file(), anomalies, baseline))

    return app


class _AppOnFirstRequest:
    """An ASGI app that builds `create_app()` when its first request comes: only the API server
    serves requests, and every other Airflow process that loads the plugin skips the imports."""

    def __init__(self):
        self.app = None

    async def __call__(self, scope, receive, send):
        if self.app is None:  # one event loop per worker: nothing else runs until this returns
            self.app = create_app()
        await self.app(scope, receive, send)


def _view_href(route: str) -> str:
    """A route as the UI's link template ({dag_id} -> {DAG_ID}, ...), as the browser reaches it:
    below the path of Airflow's [api] base_url, if it has one."""
    base = urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")
    return base + URL_PREFIX + re.sub(r"\{(\w+)\}", lambda m: "{" + m[1].upper() + "}", route)


class MnistPipelinePlugin(AirflowPlugin):
    name = "mnist_pipeline"
    fastapi_apps = [{"name": "mnist_pipeline", "app": _AppOnFirstRequest(), "url_prefix": URL_PREFIX}]
    # url_route makes each a tab of the run's or the task's page in the UI.
    external_views = [
        {"name": "Run report", "destination": "dag_run", "url_route": "mnist-run-report",
         "href": _view_href(REPORT_ROUTE)},
        {"name": "Component results", "destination": "task_instance", "url_route": "mnist-component-results",
         "href": _view_href(TASK_ROUTE)},
    ]
