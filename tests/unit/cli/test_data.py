"""`mnist-pipeline data` and `mnist-pipeline config` (pipeline/cli/data.py), run in this process
on small IDX folders and picture folders: what they print, their exit codes, what they leave."""
import json
import shutil

import pytest

from pipeline.config import PipelineConfig
from pipeline.data import inputs
from pipeline.data.data_sets import read_manifest, span_dir, spans
from pipeline.data.sources import load_bundled
from pipeline.home import HOME_ENV, Home
from tests.support.cli import run_main
from tests.support.idx import break_idx
from tests.support.image_folders import BROKEN, spoil, write_image_folder
from tests.support.locks import hold_run_lock


@pytest.fixture(scope="module")
def mnist_eval():
    return load_bundled()["eval"].window(9000, 400)


def test_damaged_or_empty_idx_files_never_crash_nor_replace_good_data(home, idx_folder, tmp_path, capsys):
    """`data` refuses with one line naming the file and exit 2; the prepared data stays as it was."""
    assert run_main(capsys, "data", "--idx-dir", str(idx_folder)).returncode == 0
    before = {p: p.read_bytes() for p in home.mnist_data.rglob("*") if p.is_file()}
    for how, name, message in (("deflate", "train-images-idx3-ubyte.gz", "cannot be read"),
                               ("empty", "t10k-images-idx3-ubyte.gz", "holds no images")):
        broken = tmp_path / how
        shutil.copytree(idx_folder, broken)
        break_idx(broken, name, how)
        refused = run_main(capsys, "data", "--idx-dir", str(broken), "--force")
        assert refused.returncode == 2, refused.stderr
        [line] = [line for line in refused.stderr.splitlines() if line.startswith("mnist-pipeline data:")]
        assert str(broken / name) in line and message in line
        assert "Traceback" not in refused.stderr
        assert {p: p.read_bytes() for p in home.mnist_data.rglob("*") if p.is_file()} == before


def test_a_home_that_is_a_file_gets_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    home = Home(tmp_path / "home-file")
    home.root.write_text("a file, not a folder")
    monkeypatch.setenv(HOME_ENV, str(home.root))
    for command in (["data", "--limit", "10"], ["run"]):
        refused = run_main(capsys, *command)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert refused.stderr.strip() == f"mnist-pipeline {command[0]}: the home {home.root} ($MNIST_PIPELINE_HOME) " \
            "is a file, not a folder: point $MNIST_PIPELINE_HOME at a folder (it is created if missing)"


def test_data_is_not_rewritten_while_a_run_holds_the_home(home, idx_folder, capsys):
    holder = hold_run_lock(home, "manual__busy")
    try:
        refused = run_main(capsys, "data", "--idx-dir", str(idx_folder))
    finally:
        holder.kill()
        holder.wait()
    assert refused.returncode == 2 and "another run is in progress" in refused.stderr
    assert "run manual__busy" in refused.stderr and not home.mnist_data.exists()


def test_data_images_writes_a_span_names_the_broken_files_and_exits_2_only_when_nothing_is_usable(
        home, tmp_path, mnist_eval, capsys):
    write_image_folder(tmp_path / "mine", mnist_eval.images[:120], mnist_eval.labels[:120])
    spoil(tmp_path / "mine")
    done = run_main(capsys, "data", "--images", str(tmp_path / "mine"))
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    for name in BROKEN:
        assert str(tmp_path / "mine" / name) in output
    assert "span 1 of a fresh data set: images:" in output and "train" in output
    span = span_dir(home.mnist_data, 1)
    manifest = read_manifest(span)
    assert sum(manifest["counts"].values()) == 120 and len(manifest["left_out"]) == 4
    assert inputs.verify_records(span) == manifest["counts"]
    # As the next span, then a folder with nothing usable: exit 2, nothing written.
    assert run_main(capsys, "data", "--next-span", "--images", str(tmp_path / "mine")).returncode == 0
    (tmp_path / "empty" / "2").mkdir(parents=True)
    refused = run_main(capsys, "data", "--next-span", "--images", str(tmp_path / "empty"))
    assert refused.returncode == 2 and "no usable images" in refused.stdout + refused.stderr
    assert sorted(spans(home.mnist_data)) == [1, 2]


def test_data_from_an_idx_folder_says_what_it_wrote_and_then_that_it_is_unchanged(home, idx_folder, capsys):
    written = run_main(capsys, "data", "--idx-dir", str(idx_folder), "--limit", "10")
    assert written.returncode == 0, written.stderr
    line, announced = written.stdout.splitlines()
    assert line.startswith("span 1 of a fresh data set: idx:") and "10 train, 10 eval examples in" in line
    assert announced == "Airflow is not up for this home: the next `mnist-pipeline run` ingests it"
    assert str(span_dir(home.mnist_data, 1)) in line
    again = run_main(capsys, "data", "--idx-dir", str(idx_folder), "--limit", "10")
    assert again.returncode == 0 and again.stdout.startswith("unchanged: ")


@pytest.mark.parametrize("args, message", [
    (["--limit", "-1"], "--limit must be 0 (all) or a positive count, got -1"),
    (["--eval-limit", "-5"], "--eval-limit must be 0 (all) or a positive count, got -5"),
    (["--idx-dir", "a", "--images", "b"], "give --idx-dir or --images, not both"),
])
def test_bad_data_options_get_one_line_and_exit_2_before_anything_is_written(home, capsys, args, message):
    refused = run_main(capsys, "data", *args)
    assert refused.returncode == 2
    assert refused.stderr.strip() == f"mnist-pipeline data: {message}"
    assert not home.root.exists()


def test_config_prints_the_home_and_every_setting_with_the_overrides(home, capsys):
    home.root.mkdir(parents=True)
    home.config_file.write_text("epochs: 7\n")
    shown = run_main(capsys, "config", "--set", "batch_size=256")
    assert shown.returncode == 0 and shown.stderr == ""
    first, *settings = shown.stdout.splitlines()
    assert first == f"# home: {home.root}"
    values = {key: json.loads(value) for key, _, value in (line.partition(": ") for line in settings)}
    assert values == {**PipelineConfig().to_dict(), "epochs": 7, "batch_size": 256}


def test_config_refuses_a_bad_value_with_its_reason(home, capsys):
    refused = run_main(capsys, "config", "--set", "epochs=0")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.startswith("mnist-pipeline config: ") and "epochs must be at least 1" in refused.stderr
    unknown = run_main(capsys, "config", "--set", "colour=red")
    assert unknown.returncode == 2 and "unknown config key 'colour'" in unknown.stderr
