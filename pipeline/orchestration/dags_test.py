"""What `airflow dags test` (an in-process run) sets up that an in-process run never uses, left out.

Profiled with py-spy on an unchanged re-run (2026-12-07, quick slice): of the about 6 s Airflow
took before the first task, two parts served nothing here.

- **The execution API's older versions: 2.9 s.** The in-process execution API is a Cadwyn app
  that, on its first request, builds a router for each of the API's ten versions (deep copies of
  every route and pydantic model). Its only client is the task SDK in this same process, which
  speaks one version, the newest (`airflow.sdk.api.datamodels._generated.API_VERSION`). So this
  process's app is built with that version alone (0.5 s), without the routes only older clients
  call. Where the installed Airflow's client and API disagree on the newest version, nothing is
  changed.
- **The DAG's permissions in FAB's tables: 0.9 s** (importing FAB's security manager to write
  them). No one logs in to an in-process run; `airflow up`'s DAG processor syncs them when it
  parses the DAG, as before.

Everything else `dags test` does (the DAG run and its task instances in Airflow's database, the
execution API's calls for each task, its logs) is unchanged. Called by `airflow_main` before
Airflow's command runs, in that process only.
"""
from __future__ import annotations


def leave_out_unused_setup() -> None:
    _newest_execution_api_version_only()
    _no_dag_permission_sync()


def _newest_execution_api_version_only() -> None:
    from airflow.api_fastapi.execution_api import versions
    from airflow.api_fastapi.execution_api.routes import execution_api_router
    from airflow.sdk.api.datamodels._generated import API_VERSION
    from cadwyn import HeadVersion, Version, VersionBundle
    from cadwyn.route_generation import _DELETED_ROUTE_TAG

    newest = versions.bundle.versions[0].value
    if newest != API_VERSION:
        return
    # The oldest version of a bundle carries no changes: with one version, head is that version.
    versions.bundle = VersionBundle(HeadVersion(), Version(newest))
    # Routes kept only for older versions' clients (marked so by Cadwyn) have no version to serve.
    execution_api_router.routes[:] = [route for route in execution_api_router.routes
                                      if _DELETED_ROUTE_TAG not in getattr(route, "tags", ())]


def _no_dag_permission_sync() -> None:
    from airflow.dag_processing import collection

    collection._sync_dag_perms = lambda dag, session: None
