"""The data set's Asset events: how Airflow hears that a span landed.

`mnist-pipeline data` announces the span it wrote (`announce_span`) when Airflow is up for the
home; `mnist-pipeline airflow up` announces the spans written while it was down
(`announce_waiting_spans`). Each event carries the span as its partition key, so the scheduler
starts one run per span (pipeline/orchestration/airflow_dag.py). Any other producer can emit the
same event through the REST API (docs/airflow.md).
"""
from __future__ import annotations

from collections.abc import Callable

from pipeline.config import load_config
from pipeline.data.data_sets import data_set_id, spans
from pipeline.home import Home
from pipeline.orchestration.airflow_dag import DAG_ID, asset_name
from pipeline.services import airflow_api
from pipeline.services.airflow_api import Api
from pipeline.services.processes import ServiceError


def announce_span(home: Home, span: int, fresh: bool, running_api: Callable[[Home], tuple[Api, dict] | None]) -> str:
    """Tell Airflow that `span` landed, when it is up for this home (`running_api(home)`, from
    `pipeline.services.lifecycle`): the data set's Asset event, with the span as its partition key,
    starts a run that ingests it. Returns what happened, in words."""
    config = load_config(home=home)
    if config.data_dir:
        return f"(runs read data_dir {config.data_dir}, not this data set: no run was started for it)"
    later = "the next `mnist-pipeline run` ingests it" + ("" if fresh else (
        ", or the run that `mnist-pipeline airflow up` starts for it"))
    try:
        scheduler = running_api(home)
    except ServiceError as err:
        return f"Airflow is not fully up ({err}); {later}"
    if scheduler is None:
        return f"Airflow is not up for this home: {later}"
    if config.schedule:
        return f"Airflow is up and runs the DAG on its schedule ({config.schedule}): a scheduled run ingests it"
    api, state = scheduler
    event = airflow_api.emit_asset_event(api, asset_name(config), str(span), {"span": span})
    return (f"Airflow is up for this home: emitted the data set's event for span {span} (asset "
            f"{asset_name(config)}, event {event['id']}); a run that ingests it starts at {state['url']} "
            "(after the run in progress, if any)")


def announce_waiting_spans(home: Home, api: Api) -> list[int]:
    """Emit the data set event of each span written after the latest one the pipeline ingested
    (while Airflow was down) that no queued or running run is for. A data set never ingested
    waits for its first `mnist-pipeline run`. Returns the spans announced."""
    from pipeline.data.inputs import input_dir
    from pipeline.metadata.spans import ingested_spans

    config = load_config(home=home)
    if config.data_dir or config.schedule:
        return []
    done = ingested_spans(home, config, data_set_id(input_dir(home, config)))
    runs = api.get(f"/dags/{DAG_ID}/dagRuns", params={"state": list(airflow_api.RUN_UNFINISHED), "limit": 100})
    pending = {run.get("partition_key") for run in runs["dag_runs"]}
    waiting = [span for span in spans(home.source_data(config)) if done and span > max(done)
               and str(span) not in pending]
    for span in waiting:
        airflow_api.emit_asset_event(api, asset_name(config), str(span), {"span": span})
    return waiting
