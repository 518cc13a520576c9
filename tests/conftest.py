"""What every test may take: a fresh home (`home`, or `home_for_module` for a file whose tests
share real runs), a small IDX folder, and the load order of the test files on xdist's workers.

The tests mirror the code: tests/unit/<package>/test_<module>.py for the fast tests,
tests/e2e/ for the real pipeline through Airflow and real services (marked `e2e` there, by
tests/e2e/conftest.py), tests/support/ for what they share (never import one test module from
another).
"""
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tests.support")

import pipeline  # noqa: E402, F401  (sets the legacy-Keras switch before anything imports TensorFlow)
from pipeline.home import HOME_ENV, Home  # noqa: E402
from tests.support.idx import write_idx_folder  # noqa: E402

# The compose file and the other deploy files, for tests/unit/deploy/ and the deploy e2e tests;
# a real S3 server (SeaweedFS), for any test.
pytest_plugins = ["tests.support.deploy", "tests.support.object_store"]

TESTS = Path(__file__).resolve().parent

# The slowest test files, longest first (pytest's --durations on a fresh clone), relative to
# tests/: the e2e files with their real pipeline runs, then the slowest unit files (for
# `-m "not e2e"`). `make test` runs files on two xdist workers in collection order, so these
# start first and the short files fill in beside them. tests/unit/test_suite_layout.py checks
# that each one exists.
SLOWEST_FILES = ["e2e/test_end_to_end.py", "e2e/test_data_events_and_approval.py", "e2e/test_spans.py",
                 "e2e/test_object_storage.py",
                 "e2e/test_validation_gates.py",
                 "e2e/test_services.py", "e2e/test_hosts.py", "e2e/test_deploy_image.py",
                 "e2e/test_tuning_and_reuse.py",
                 "e2e/test_web_ui.py", "e2e/test_predict.py", "e2e/test_deploy_airflow.py",
                 "e2e/test_readme_commands.py", "e2e/test_airflow_api_server.py", "e2e/test_mysql_store.py",
                 "e2e/test_deploy_serving.py",
                 "unit/orchestration/test_airflow_dag.py", "unit/services/test_airflow_plugin.py",
                 "unit/components/test_tuner.py", "unit/data/test_data_sets.py", "unit/components/test_model.py",
                 "unit/data/test_own_images.py", "unit/orchestration/test_airflow_main.py", "unit/cli/test_data.py",
                 "unit/deploy/test_compose.py", "unit/components/test_training.py"]


def pytest_collection_modifyitems(items):
    def rank(item):
        try:
            name = item.path.relative_to(TESTS).as_posix()
        except ValueError:
            return len(SLOWEST_FILES)
        return SLOWEST_FILES.index(name) if name in SLOWEST_FILES else len(SLOWEST_FILES)
    items.sort(key=rank)  # stable: each file keeps its own order


def _home(root: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    """A home at `root` (not created), named by $MNIST_PIPELINE_HOME for this test's own process."""
    monkeypatch.setenv(HOME_ENV, str(root))
    return Home.from_env()


@pytest.fixture
def home(tmp_path, monkeypatch) -> Home:
    """A fresh home for one test, which $MNIST_PIPELINE_HOME names while the test runs."""
    return _home(tmp_path / "home", monkeypatch)


@pytest.fixture(scope="module")
def home_for_module(request, tmp_path_factory) -> Home:
    """`home` for a whole test file: for the tests that share the file's real pipeline runs."""
    folder = tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2])
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield _home(folder / "home", monkeypatch)


@pytest.fixture
def idx_folder(tmp_path) -> Path:
    """A folder of the four standard IDX files (gzipped), with small random digits: 50 train, 20 eval."""
    return write_idx_folder(tmp_path / "idx")
