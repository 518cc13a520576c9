"""`python -m pipeline.orchestration.airflow_main` (how `run` starts `airflow dags test`): Airflow's
CLI leaving through os._exit, in a process of its own as `run` starts it."""
import subprocess
import sys

from pipeline.services import environment


def test_airflow_main_keeps_airflow_s_output_and_exit_code(home, tmp_path):
    """`pipeline.orchestration.airflow_main` (how `run` starts `airflow dags test`) leaves through os._exit: what
    Airflow printed still arrives, and a failure still exits non-zero."""
    env = environment.airflow_environment(home)

    def airflow_main(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pipeline.orchestration.airflow_main", *args], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)

    version = airflow_main("version")
    assert version.returncode == 0 and version.stdout.strip().splitlines()[-1].startswith("3.")
    unknown = airflow_main("no-such-command")
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr
