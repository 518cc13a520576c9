"""The approval step between the Evaluator and the Pusher: with `require_approval`, a person
approves a blessed model in Airflow before it is pushed.

Airflow's `ApprovalOperator` (providers-standard, human in the loop) writes the request, which the
UI lists under Required Actions and the REST API answers (PATCH .../hitlDetails); on Airflow 3.3
the task waits in the `awaiting_input` state, resumed by the API server when someone answers and
by the scheduler when the time limit passes: no triggerer is involved. Approve: the Pusher runs.
Reject, or no answer in time (the request's default): the Pusher is skipped, nothing is pushed.
The decision (who, when, comment) is recorded in MLMD (pipeline/metadata/approvals.py).

The step asks nothing when the run's config has `require_approval` off, or when the Evaluator did
not bless the model (the Pusher then pushes nothing, as without approval).
"""
from __future__ import annotations

import datetime
from typing import Any

from pipeline.home import Home
from pipeline.orchestration.progress import progress

APPROVAL_TASK = "approve_push"
APPROVE, REJECT = "Approve", "Reject"  # ApprovalOperator's options
COMMENT = "comment"
# What `mnist-pipeline run` shows for the step (pipeline/cli/run.py reads the progress events).
NOT_ASKED, APPROVED, REJECTED, TIMED_OUT = "NOT ASKED", "APPROVED", "REJECTED", "TIMED OUT"


def report_url(base_url: str, dag_id: str, run_id: str) -> str:
    """The run's report page (pipeline/services/airflow_plugin.py) as a browser reaches it."""
    from urllib.parse import quote

    from pipeline.services.plugin_routes import REPORT_ROUTE, URL_PREFIX

    return base_url.rstrip("/") + URL_PREFIX + REPORT_ROUTE.format(dag_id=dag_id, run_id=quote(run_id, safe=""))


def request_body(summary, baseline, report_link: str) -> str:
    """The request a reviewer reads (Markdown): the verdict, overall and per-digit accuracy against
    the baseline, the spans the model learnt from, and the run's report."""
    from pipeline.reports.text import evaluation_lines

    lines = ["**The Evaluator blessed this model.** Approve to push it to serving, reject to keep the "
             "model that serves now.", ""]
    # Overall and per digit, the verdict and its baseline; one list item each (Markdown joins lines).
    lines += [f"- {line.strip()}" for line in evaluation_lines(summary, baseline)]
    lines += ["", f"Learnt from span(s) {summary.trained_spans or '?'}"
              + (f"; this run ingested span {summary.ingested['span']}" if summary.ingested else "") + ".",
              "", f"[The run's report]({report_link})"]
    return "\n".join(lines)


def approval_task(dag_id: str, run_config):
    """The DAG's approval task; `run_config(context)` is the config the run started with."""
    from airflow.providers.standard.operators.hitl import ApprovalOperator
    from airflow.sdk import Param

    class PushApproval(ApprovalOperator):
        def execute(self, context):
            config = run_config(context)
            run_id = context["run_id"]
            if not config.require_approval:
                with progress(APPROVAL_TASK, run_id) as outcome:
                    outcome["state"] = NOT_ASKED  # require_approval is off
                return None
            summary, baseline = _summary(config, run_id)
            if not summary.blessed:
                with progress(APPROVAL_TASK, run_id) as outcome:
                    outcome["state"], outcome["why"] = NOT_ASKED, "the model was not blessed"
                return None
            from airflow.sdk import conf

            base_url = conf.get("api", "base_url", fallback="http://127.0.0.1:8080")
            _write_report_now(run_id)
            self.body = request_body(summary, baseline, report_url(base_url, dag_id, run_id))
            self.response_timeout = datetime.timedelta(minutes=config.approval_timeout_minutes)
            link = self.generate_link_to_ui(task_instance=context["task_instance"], base_url=base_url)
            self.log.info("waiting for approval at %s (no answer within %g min is a rejection)", link,
                          config.approval_timeout_minutes)
            return super().execute(context)

        def execute_complete(self, context, event: dict[str, Any]):
            config = run_config(context)
            with progress(APPROVAL_TASK, context["run_id"]) as outcome:
                decision = _decision(event, config)
                from pipeline.metadata.approvals import describe, record_decision

                record_decision(Home.from_env(), config, context["run_id"], decision)
                outcome["state"] = {"approved": APPROVED, "rejected": REJECTED}.get(decision["decision"], TIMED_OUT)
                outcome["decision"] = describe(decision)
                self.log.info("decision: %s", describe(decision))
            # After the progress event: on a rejection this skips the Pusher by raising Airflow's
            # DownstreamTasksSkipped, which is no failure of the step.
            return super().execute_complete(context, event)

    return PushApproval(
        task_id=APPROVAL_TASK,
        subject="Push the model of run {{ run_id }} to serving?",
        body="(written when the task starts)",
        defaults=[REJECT],  # what a timeout answers
        params={COMMENT: Param("", type=["null", "string"], title="Comment",
                               description="Why you approve or reject (kept in ML Metadata with your name)")},
    )


def _decision(event: dict[str, Any], config) -> dict[str, Any]:
    from pipeline.metadata import approvals

    chosen = (event.get("chosen_options") or [REJECT])[0]
    at = event.get("responded_at")
    if isinstance(at, datetime.datetime):
        at = at.astimezone(datetime.timezone.utc).isoformat(timespec="seconds")
    user = event.get("responded_by_user") or {}
    decision: dict[str, Any] = {
        "decision": approvals.APPROVED if chosen == APPROVE else approvals.REJECTED,
        "by": user.get("name") or user.get("id"), "at": at,
        "comment": (event.get("params_input") or {}).get(COMMENT) or ""}
    if event.get("timedout"):
        decision.update(decision=approvals.TIMED_OUT, timeout_minutes=config.approval_timeout_minutes)
    return decision


def _summary(config, run_id: str):
    from pipeline.metadata.lineage import model_origin
    from pipeline.metadata.runs import summarize_run
    from pipeline.metadata.store import open_store

    home = Home.from_env()
    store = open_store(home, config)
    summary = summarize_run(home, run_id, store)
    return summary, model_origin(store, summary.baseline_model_id) if summary.baseline_model_id else None


def _write_report_now(run_id: str) -> None:
    """The report so far (the Pusher has not run), so that the request's link opens a page; the
    run's last task writes it again."""
    from pipeline.reports import report

    report.write_report(Home.from_env(), run_id)
