"""Airflow's Celery settings, plus one thing: a Celery worker imports what tasks need before it
forks its pool, so each task starts with TFX and TensorFlow loaded (see `pipeline.orchestration.task_imports`).

Selected by [celery] celery_config_options (`pipeline.services.environment.airflow_environment`, and
docker-compose.yml). The `import_modules` signal is the one Airflow itself uses to preload its
operators in a worker; it fires in the worker's main process only, not in the scheduler.
"""
from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import import_modules

CELERY_CONFIG = DEFAULT_CELERY_CONFIG


@import_modules.connect
def _preload_task_imports(*args, **kwargs) -> None:
    import pipeline.orchestration.task_imports  # noqa: F401
