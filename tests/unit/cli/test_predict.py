"""`mnist-pipeline predict` (pipeline/cli/predict.py) before any model is pushed. Predictions of a
real model: tests/e2e/test_predict.py."""
from tests.support.cli import run_main


def test_predict_without_a_pushed_model_says_to_run_first(home, tmp_path, capsys):
    (tmp_path / "one.png").write_bytes(b"")
    refused = run_main(capsys, "predict", str(tmp_path / "one.png"))
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip() == f"mnist-pipeline predict: no pushed model in {home.serving_root / 'mnist'}: " \
        "run `mnist-pipeline run` first, or pass --server"


def test_a_server_that_is_no_rest_address_is_refused(home, tmp_path, capsys):
    refused = run_main(capsys, "predict", "--server", "ftp://host/models", str(tmp_path / "one.png"))
    assert refused.returncode == 2 and "REST address" in refused.stderr
