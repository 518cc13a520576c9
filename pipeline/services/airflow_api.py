"""Airflow 3's REST API (/api/v2) as `mnist-pipeline` uses it: token login, trigger, follow, clear,
data set events, and answers to approval requests.

Logins go through the auth manager's token endpoint (POST /auth/token with a user name and
password); every call then carries the JWT as a Bearer token, renewed when Airflow says it expired.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from pipeline.orchestration.progress import PROGRESS_MARKER
from pipeline.services.processes import ServiceError

# A scheduler that has not reported healthy for this long is gone: stop following its run.
SCHEDULER_GONE_AFTER = 120
# A task waiting for a person's answer (human in the loop, Airflow 3.3).
AWAITING_INPUT = "awaiting_input"
# A task instance's states before it ends, and a DAG run's.
TASK_UNFINISHED = {"queued", "scheduled", "running", "up_for_retry", "up_for_reschedule", "restarting", "deferred",
                   AWAITING_INPUT, None}
RUN_UNFINISHED = ("queued", "running")
# How often a run that waits in the queue says so.
QUEUED_EVERY = 30


class Api:
    """Airflow's public REST API (/api/v2), logged in as one user."""

    def __init__(self, url: str, username: str | None = None, password: str | None = None):
        import requests

        self.url = url.rstrip("/")
        self.session = requests.Session()
        self._login: tuple[str, str | None] | None = (username, password) if username else None
        self._token: str | None = None

    def health(self) -> dict[str, Any] | None:
        """/api/v2/monitor/health (needs no login), or None when the API server does not answer."""
        import requests

        try:
            response = self.session.get(f"{self.url}/api/v2/monitor/health", timeout=10)
            return response.json() if response.ok else None
        except (requests.RequestException, ValueError):
            return None

    def _authenticate(self) -> str:
        import requests

        assert self._login is not None, "called only with a login"
        username, password = self._login
        try:
            response = self.session.post(f"{self.url}/auth/token", json={"username": username, "password": password},
                                         timeout=60)
        except requests.RequestException as err:
            raise ServiceError(f"Airflow's API server at {self.url} does not answer: {err}") from None
        if response.status_code in (400, 401, 403):
            raise ServiceError(f"Airflow refused the login of {username} ({response.status_code}): run "
                               "`mnist-pipeline airflow down` and `up` again to renew its credentials")
        if not response.ok:
            raise ServiceError(f"Airflow's token endpoint answered {response.status_code}: {response.text[:300]}")
        return response.json()["access_token"]

    def _call(self, method: str, path: str, missing_ok: bool = False, **kwargs):
        import requests

        for attempt in (1, 2):
            if self._login and not self._token:
                self._token = self._authenticate()
            headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
            try:
                response = self.session.request(method, f"{self.url}/api/v2{path}", timeout=60, headers=headers,
                                                **kwargs)
            except requests.RequestException as err:
                raise ServiceError(f"Airflow's API server at {self.url} does not answer: {err}") from None
            if response.status_code == 401 and self._login and attempt == 1:
                self._token = None  # expired: log in again, once
                continue
            break
        if missing_ok and response.status_code == 404:
            return None
        if response.status_code in (401, 403):
            raise ServiceError(f"Airflow refused the API user ({response.status_code}) for {method} {path}: run "
                               "`mnist-pipeline airflow down` and `up` again to renew its credentials")
        if not response.ok:
            raise ServiceError(f"Airflow's REST API: {method} {path} answered {response.status_code}: "
                               f"{response.text[:500]}")
        return response.json() if response.content else None

    def get(self, path: str, **kwargs):
        return self._call("GET", path, **kwargs)

    def post(self, path: str, body: dict[str, Any]):
        return self._call("POST", path, json=body)

    def patch(self, path: str, body: dict[str, Any]):
        return self._call("PATCH", path, json=body)


def trigger(api: Api, dag_id: str, conf: dict[str, Any]) -> str:
    """A new DAG run with this conf, now; its run id."""
    return api.post(f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})["dag_run_id"]


def emit_asset_event(api: Api, asset_name: str, partition_key: str, extra: dict[str, Any]) -> dict[str, Any]:
    """An event of the asset named `asset_name` (as a producer's task would emit it), with this
    partition key; returns Airflow's event record. The asset is known once the DAG has loaded."""
    found = api.get("/assets", params={"name_pattern": asset_name, "limit": 100})["assets"]
    ids = [asset["id"] for asset in found if asset["name"] == asset_name]
    if not ids:
        raise ServiceError(f"Airflow knows no asset {asset_name!r} (has the DAG loaded? see "
                           "`mnist-pipeline airflow status`)")
    return api.post("/assets/events", {"asset_id": ids[0], "partition_key": partition_key, "extra": extra})


def answer_approval(api: Api, dag_id: str, run_id: str, task_id: str, approve: bool,
                    comment: str = "") -> dict[str, Any]:
    """Approve or reject a run's waiting approval request, as the UI's Required Actions does."""
    return api.patch(f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/-1/hitlDetails",
                     {"chosen_options": ["Approve" if approve else "Reject"], "params_input": {"comment": comment}})


def clear_failed(api: Api, dag_id: str, run_id: str, task_ids: list[str] | None = None) -> list[str]:
    """Clear a run's failed tasks (or these) and everything downstream of them, as the UI's Clear
    does: the scheduler runs them again in the same DAG run. Returns the cleared task ids."""
    body = {"dry_run": False, "dag_run_id": run_id, "only_failed": task_ids is None, "include_downstream": True,
            "reset_dag_runs": True}
    if task_ids:
        body["task_ids"] = task_ids
    cleared = api.post(f"/dags/{dag_id}/clearTaskInstances", body)
    return sorted({ti["task_id"] for ti in cleared.get("task_instances", [])})


def fail_unserved_runs(api: Api, dag_id: str, test_runs: bool = True) -> list[tuple[str, bool, list[str]]]:
    """Mark failed the runs that no process serves any more (call it only when no process of an
    earlier Airflow of this home lives: `airflow up`): nothing can finish them, and with one active
    run allowed they would hold every later run in the queue until Airflow's heartbeat timeout.
    - runs left running by an earlier scheduler (killed, or its host lost);
    - unfinished runs of `airflow dags test` (in-process `mnist-pipeline run`) whose process is gone;
      left alone when not `test_runs` (an in-process run lives).
    Returns each run's id, whether it was an in-process run, and its tasks that were unfinished."""
    closed = []
    for run in api.get(f"/dags/{dag_id}/dagRuns", params={"state": list(RUN_UNFINISHED), "limit": 100})["dag_runs"]:
        in_process = run.get("triggered_by") == "test"
        if (in_process and not test_runs) or (not in_process and run["state"] != "running"):
            continue  # a live in-process run, or a scheduler's run that waits its turn
        path = f"/dags/{dag_id}/dagRuns/{quote(run['dag_run_id'], safe='')}"
        tis = api.get(f"{path}/taskInstances", params={"limit": 100})["task_instances"]
        unfinished = [t["task_id"] for t in tis if t["state"] in ("running", "queued", "up_for_retry", "restarting")]
        api.patch(path, {"state": "failed"})
        closed.append((run["dag_run_id"], in_process, unfinished))
    return closed


def log_lines(api: Api, dag_id: str, run_id: str, task_id: str, attempt: int) -> list[str]:
    """The text lines of one task attempt's log (each structured log record's event)."""

    data = api.get(f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/logs/{attempt}",
                   params={"full_content": "true"}, missing_ok=True) or {}
    lines: list[str] = []
    for record in data.get("content") or []:
        text = record.get("event") if isinstance(record, dict) else str(record)
        if text and not text.startswith("::"):  # ::group:: markers fold the UI's log sections
            lines.extend(text.splitlines())
    return lines


def unseen(shown: Counter, lines: list[str]) -> list[str]:
    """The lines of a whole log that were not shown yet, counted into `shown`.

    Each read returns the whole log, and not always with the same lines before the new ones (a
    running task's log carries a note about its served logs that the finished one has not): a
    line is new when it occurs more often than it was shown.
    """
    counts: Counter = Counter()
    new = []
    for line in lines:
        counts[line] += 1
        if counts[line] > shown[line]:
            shown[line] += 1
            new.append(line)
    return new


def runs_ahead(api: Api, dag_id: str, run_id: str) -> list[str]:
    """What a queued run waits for (`max_active_runs=1`): the running runs of `dag_id`, then those
    queued before `run_id`."""
    def unfinished(state: str) -> list[str]:
        return [r["dag_run_id"] for r in api.get(f"/dags/{dag_id}/dagRuns", params={
            "state": [state], "order_by": "run_after", "limit": 100})["dag_runs"]]

    queued = unfinished("queued")
    return unfinished("running") + queued[:queued.index(run_id) if run_id in queued else len(queued)]


def follow(api: Api, dag_id: str, run_id: str, show_line: Callable[[str], object],
           show_lost: Callable[[str, int, str], None], log_file=None, poll: float = 2,
           show_queued: Callable[[list[str], float], None] | None = None,
           show_waiting: Callable[[str], None] | None = None) -> str:
    """Follow a DAG run to its end; returns its final state (success or failed).

    Each task attempt's log is read through the API while it runs: its lines go to `show_line`
    (progress events, epochs) and to `log_file`. An attempt that ended without a progress event
    of its end (its process was killed) is reported to `show_lost(task, try, Airflow's state)`.
    While the run is queued, `show_queued(runs ahead, seconds waited)` is called at once and then
    every `QUEUED_EVERY` seconds. When a task starts waiting for a person's answer (its state is
    `awaiting_input`, so an answer now resumes it), `show_waiting(task)` is called, once per wait.
    """


    seen: dict[tuple[str, int], Counter] = {}
    closed: set[tuple[str, int]] = set()
    ended: set[tuple[str, int]] = set()

    def read_log(task_id: str, attempt: int) -> None:
        shown = seen.setdefault((task_id, attempt), Counter())
        for line in unseen(shown, log_lines(api, dag_id, run_id, task_id, attempt)):
            if log_file:
                log_file.write(f"{task_id}[{attempt}] {line}\n")
            if PROGRESS_MARKER in line and ('"finished"' in line or '"failed"' in line):
                ended.add((task_id, attempt))
            show_line(line)

    def close(task_id: str, attempt: int, state: str) -> None:
        read_log(task_id, attempt)
        # A task's last log lines can reach the log file a moment after its state does.
        for _ in range(10):
            if (task_id, attempt) in ended or state != "success":
                break
            time.sleep(0.5)
            read_log(task_id, attempt)
        closed.add((task_id, attempt))
        if (task_id, attempt) not in ended:
            show_lost(task_id, attempt, state)

    attempts: dict[str, int] = {}
    waiting: set[str] = set()
    healthy_at = queued_since = time.monotonic()
    queued_shown: float | None = None
    run_path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"
    while True:
        run_state = api.get(run_path)["state"]
        if run_state == "queued" and show_queued and (
                queued_shown is None or time.monotonic() - queued_shown >= QUEUED_EVERY):
            queued_shown = time.monotonic()
            show_queued(runs_ahead(api, dag_id, run_id), queued_shown - queued_since)
        health = api.health() or {}
        if health.get("scheduler", {}).get("status") == "healthy":
            healthy_at = time.monotonic()
        elif time.monotonic() - healthy_at > SCHEDULER_GONE_AFTER:
            raise ServiceError(f"the scheduler has not reported for {SCHEDULER_GONE_AFTER} s (was it stopped? see "
                               f"`mnist-pipeline airflow status`); run {run_id} is left {run_state}")
        tis = api.get(f"{run_path}/taskInstances", params={"limit": 100})["task_instances"]
        for ti in sorted(tis, key=lambda t: t.get("start_date") or "~"):
            task_id, attempt, state = ti["task_id"], ti.get("try_number") or 0, ti["state"]
            previous = attempts.get(task_id)
            if previous and previous < attempt and (task_id, previous) not in closed:
                close(task_id, previous, "failed, retried")  # the attempt we watched ended and another began
            if not ti.get("start_date") or attempt < 1 or state in ("queued", "scheduled"):
                continue
            attempts[task_id] = attempt
            if (task_id, attempt) in closed:
                continue
            if state in TASK_UNFINISHED and state != "up_for_retry":
                read_log(task_id, attempt)
                if state == AWAITING_INPUT and task_id not in waiting and show_waiting:
                    show_waiting(task_id)
                (waiting.add if state == AWAITING_INPUT else waiting.discard)(task_id)
            else:
                close(task_id, attempt, state)
        if run_state not in RUN_UNFINISHED:
            return run_state
        time.sleep(poll)
