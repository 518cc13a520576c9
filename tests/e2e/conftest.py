"""The end-to-end tests: the real pipeline through Airflow, and real services (PostgreSQL,
MariaDB, Redis, Airflow's processes, Chromium). Every test here is marked `e2e` (minutes):
`pytest -m "not e2e"` leaves them out."""
import fcntl
import os
import shutil
from pathlib import Path

import pytest

from pipeline.home import Home
from tests.support.cli import cli
from tests.support.runs import SERVED_PIPELINE, SERVED_SLICE

E2E = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by marker
def pytest_collection_modifyitems(items):
    for item in items:
        if E2E in item.path.parents:
            item.add_marker(pytest.mark.e2e)


def _session_dir(tmp_path_factory) -> Path:
    """A folder this test session's processes share: with xdist, the parent of every worker's
    own temporary folder; without, the session's own."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def served_home(tmp_path_factory) -> Home:
    """A home whose serving folder holds a model pushed by a real pipeline run, of a pipeline
    renamed to SERVED_PIPELINE in the home's config.yaml. Trained once per test session: the
    first xdist worker to ask trains it, under a lock, and the others wait and read it."""
    shared = _session_dir(tmp_path_factory)
    home = Home(shared / "served" / "home")
    done = home.root / ".trained"
    with open(shared / "served.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(home.root, ignore_errors=True)  # a half-trained home from a failed try
            home.root.mkdir(parents=True)
            home.config_file.write_text(f"pipeline_name: {SERVED_PIPELINE}\n")
            sets = [arg for key, value in SERVED_SLICE.items() for arg in ("--set", f"{key}={value}")]
            for args in (["data", "--limit", str(SERVED_SLICE["train_examples"])], ["run", *sets]):
                process = cli(home, *args, timeout=1800)
                assert process.returncode == 0, process.stdout
            done.touch()
    return home
