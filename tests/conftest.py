import gzip
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import pipeline  # noqa: F401  (sets the legacy-Keras switch before anything imports TensorFlow)
from pipeline.config import HOME_ENV, Home


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
        from pipeline import home_lock
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


@pytest.fixture(scope="session")
def served_home(tmp_path_factory) -> Home:
    """A home whose serving folder holds a model pushed by a real pipeline run, of a pipeline
    renamed to SERVED_PIPELINE in the home's config.yaml."""
    import os
    import subprocess
    import sys

    home = Home(tmp_path_factory.mktemp("served") / "home")
    home.root.mkdir(parents=True)
    home.config_file.write_text(f"pipeline_name: {SERVED_PIPELINE}\n")
    env = {**os.environ, HOME_ENV: str(home.root)}
    sets = [arg for key, value in SERVED_SLICE.items() for arg in ("--set", f"{key}={value}")]
    for args in (["data", "--limit", str(SERVED_SLICE["train_examples"])], ["run", *sets]):
        process = subprocess.run([sys.executable, "-m", "pipeline.cli", *args], env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1800)
        assert process.returncode == 0, process.stdout
    return home
