#!/usr/bin/env bash
# The airflow-init service of docker-compose.yml, run as root before the Airflow services start:
# gives the shared volumes to the airflow user, refreshes the DAGs volume with this image's DAG
# files (a named volume keeps its first content otherwise, however the image changes), creates
# TensorFlow Serving's base path, then migrates Airflow's database (with the FAB auth manager's
# user tables) and creates the admin user.
# Safe to run again: every step is idempotent.
set -euo pipefail

: "${MNIST_PIPELINE_HOME:?}" "${AIRFLOW_HOME:?}" "${DAGS_VOLUME:?}"
: "${AIRFLOW_ADMIN_USERNAME:?set AIRFLOW_ADMIN_USERNAME}" "${AIRFLOW_ADMIN_PASSWORD:?set AIRFLOW_ADMIN_PASSWORD}"
: "${AIRFLOW_ADMIN_EMAIL:?set AIRFLOW_ADMIN_EMAIL}"
# Out of the environment that the Airflow commands below inherit (where `ps e` would show it):
# the password reaches Airflow on its standard input only.
admin_password=$AIRFLOW_ADMIN_PASSWORD
unset AIRFLOW_ADMIN_PASSWORD
# The unprivileged user the Airflow services run as (the image's `airflow`).
user=${AIRFLOW_USER:-airflow}
group=$(id -gn "$user")

as_user() {
  HOME=$(getent passwd "$user" | cut -d: -f6) setpriv --reuid="$user" --regid="$group" --init-groups "$@"
}

# The home keeps config.yaml and Airflow's logs; the pushed models are in the bucket.
install -d -o "$user" -g "$group" "$MNIST_PIPELINE_HOME" "$AIRFLOW_HOME"

package_dags=$(cd / && python -c 'import dags; print(dags.DAGS_FOLDER)')
cp "$package_dags"/*.py "$DAGS_VOLUME"/
chown -R "$user:$group" "$DAGS_VOLUME"

as_user airflow db migrate

# FAB's `airflow users create` without --password prompts twice (password, confirmation) with
# getpass. With no controlling terminal (setsid: a session of its own) getpass reads them from
# stdin, so the password is written there by printf, a shell builtin: it appears in no process's
# arguments. (getpass then warns that it cannot turn echo off; nothing is echoed to a pipe.)
# Prints "... already exists in the db" and changes nothing when the user is there.
printf '%s\n%s\n' "$admin_password" "$admin_password" \
  | as_user setsid --wait airflow users create --role Admin --username "$AIRFLOW_ADMIN_USERNAME" \
      --email "$AIRFLOW_ADMIN_EMAIL" --firstname Admin --lastname User
echo "airflow-init: done"
