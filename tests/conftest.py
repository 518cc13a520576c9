import fcntl
import gzip
import os
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import pipeline  # noqa: F401  (sets the legacy-Keras switch before anything imports TensorFlow)
from pipeline.home import HOME_ENV, Home

# The test files whose real pipeline runs take longest, longest first (pytest's --durations on a
# fresh clone): `make test` runs files on two xdist workers in collection order, so these start
# first and the short files fill in beside them.
SLOWEST_FILES = ["test_end_to_end.py", "test_spans_end_to_end.py", "test_validation_gates.py",
                 "test_services.py", "test_deploy.py", "test_tuning_and_reuse.py", "test_web_ui.py",
                 "test_predict.py", "test_airflow_plugin.py", "test_mysql_store.py"]


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return SLOWEST_FILES.index(name) if name in SLOWEST_FILES else len(SLOWEST_FILES)
    items.sort(key=rank)  # stable: each file keeps its own order


@pytest.fixture
def home(tmp_path, monkeypatch) -> Home:
    root = tmp_path / "home"
    monkeypatch.setenv(HOME_ENV, str(root))
    return Home.from_env()


def write_idx_images(path: Path, images: np.ndarray, magic: int = 0x803) -> Path:
    count, rows, cols = images.shape
    payload = struct.pack(">IIII", magic, count, rows, cols) + images.astype(np.uint8).tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(payload)
    return path


def write_idx_labels(path: Path, labels: np.ndarray, magic: int = 0x801) -> Path:
    payload = struct.pack(">II", magic, len(labels)) + np.asarray(labels, dtype=np.uint8).tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(payload)
    return path


def hold_run_lock(home: Home, run_id: str = "manual__1"):
    """A live process holding the home's run lock, as an in-process run does; kill it to let go."""
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from pipeline.services import home_lock
        from pipeline.config import Home
        lock = home_lock.HomeLock(Home(Path({str(home.root)!r}))).acquire()
        lock.name_run({run_id!r})
        print("locked", flush=True)
        time.sleep(600)
        """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


@pytest.fixture
def idx_folder(tmp_path):
    """A folder of the four standard IDX files (gzipped), with small random digits."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "idx"
    folder.mkdir()
    splits = {"train": 50, "t10k": 20}
    for prefix, count in splits.items():
        write_idx_images(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 28, 28)))
        write_idx_labels(folder / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, count))
    return folder


# A model good enough to be judged on real digits (about 99 % on the MNIST test set), trained
# once per test session through the real pipeline: 20,000 training images, 2 epochs.
SERVED_SLICE = {"train_examples": 20000, "eval_examples": 2000, "epochs": 2}
# The served home's team renamed its pipeline in its config.yaml: everything that finds the
# pushed model (predict, serving, lineage) must follow the name, not assume `mnist`.
SERVED_PIPELINE = "digits"


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
            env = {**os.environ, HOME_ENV: str(home.root)}
            sets = [arg for key, value in SERVED_SLICE.items() for arg in ("--set", f"{key}={value}")]
            for args in (["data", "--limit", str(SERVED_SLICE["train_examples"])], ["run", *sets]):
                process = subprocess.run([sys.executable, "-m", "pipeline.cli.main", *args], env=env, text=True,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1800)
                assert process.returncode == 0, process.stdout
            done.touch()
    return home
