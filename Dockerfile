# The image of every Airflow role in docker-compose.yml: API server, scheduler, DAG processor,
# triggerer, Celery workers and the one-off init. It installs the project exactly as
# `make install` does (the lock, then the project), through deploy/install.sh, which
# tests/test_deploy.py runs in a fresh virtualenv. No Docker engine was at hand to build it.
FROM python:3.11-slim-bookworm

ENV VIRTUAL_ENV=/opt/mnist-pipeline/venv \
    MNIST_PIPELINE_HOME=/var/lib/mnist-pipeline \
    TF_USE_LEGACY_KERAS=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_NO_CACHE=1
ENV PATH=$VIRTUAL_ENV/bin:$PATH \
    AIRFLOW_HOME=$MNIST_PIPELINE_HOME/airflow

# The locked dependencies first, in their own layer: rebuilt only when the lock changes.
# pyfarmhash (for TFDV) ships only as source: g++ builds it, and leaves with the same layer.
COPY requirements.lock /opt/mnist-pipeline/src/
COPY deploy/install.sh /opt/mnist-pipeline/src/deploy/
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ \
    && /opt/mnist-pipeline/src/deploy/install.sh dependencies $VIRTUAL_ENV /opt/mnist-pipeline/src/requirements.lock \
    && apt-get purge -y --auto-remove g++ \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md /opt/mnist-pipeline/src/
COPY pipeline/ /opt/mnist-pipeline/src/pipeline/
COPY components/ /opt/mnist-pipeline/src/components/
COPY dags/ /opt/mnist-pipeline/src/dags/
COPY schema/ /opt/mnist-pipeline/src/schema/
RUN /opt/mnist-pipeline/src/deploy/install.sh project $VIRTUAL_ENV /opt/mnist-pipeline/src \
    && rm -rf /opt/mnist-pipeline/src

# Airflow runs as an unprivileged user; it owns the home (the pipeline-home volume takes this
# ownership when first mounted) and the package's dags/ folder, where the DAGs volume is mounted.
RUN groupadd --gid 50000 airflow \
    && useradd --uid 50000 --gid airflow --create-home airflow \
    && install -d -o airflow -g airflow $MNIST_PIPELINE_HOME $MNIST_PIPELINE_HOME/serving $AIRFLOW_HOME \
    && chown -R airflow:airflow $VIRTUAL_ENV/lib/python3.11/site-packages/dags
COPY deploy/init-airflow.sh /opt/mnist-pipeline/deploy/

USER airflow
WORKDIR $MNIST_PIPELINE_HOME
# 8080: the API server (UI, REST API v2, the tasks' execution API); 8793 and 8794: the log servers
# of Celery workers and of the triggerer, which the API server reads running tasks' logs from.
# The scheduler's health server (8974) listens on 127.0.0.1 inside its container: not exposed.
EXPOSE 8080 8793 8794
# One image, several roles: each compose service gives its command and its own health check (all
# run with what the image has: python, airflow, celery; there is no curl).
CMD ["airflow", "--help"]
