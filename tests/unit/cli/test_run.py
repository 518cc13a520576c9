"""`mnist-pipeline run` and `resume` (pipeline/cli/run.py) without a run: what `run` shows of a
task's output (progress events and the Trainer's epochs), and what is refused before anything runs."""
from pipeline.cli.run import show_progress
from pipeline.orchestration.progress import PROGRESS_MARKER
from tests.support.cli import run_main

EPOCH = "epoch 3/3  accuracy 0.9917  loss 0.0271  val_accuracy 0.9948  val_loss 0.0147  (50.0 s)"


def test_an_epoch_line_is_shown_without_what_airflow_s_log_format_adds(capsys):
    show_progress(f"2026-11-29T05:31:53Z [info ] {EPOCH} [components.trainer] loc=trainer.py:107", [])
    show_progress(f"[2026-11-29 04:43:34] INFO - {EPOCH}", [])
    assert [line.strip() for line in capsys.readouterr().out.splitlines()] == [EPOCH, EPOCH]


def test_progress_events_name_the_run_and_collect_failures(capsys):
    failures = []
    run_id = show_progress(f'x {PROGRESS_MARKER} {{"event": "failed", "node": "Trainer", "run_id": "r1", '
                           f'"seconds": 1.5, "error": "ValueError: bad"}}', failures)
    assert run_id == "r1" and failures[0]["node"] == "Trainer"
    assert "Trainer" in capsys.readouterr().out


def test_the_span_a_run_ingests_and_the_spans_waiting_are_shown(capsys):
    show_progress(f'{PROGRESS_MARKER} {{"event": "finished", "node": "prepare_data", "run_id": "r1", '
                  f'"seconds": 9.0, "state": "COMPLETE", "span": 2, "waiting": [3, 4]}}', [])
    out = capsys.readouterr().out
    assert "this run ingests span 2; span(s) 3-4 wait for the next runs, one each" in out


def test_the_approval_step_shows_its_decision(capsys):
    show_progress(f'{PROGRESS_MARKER} {{"event": "finished", "node": "approve_push", "run_id": "r1", '
                  f'"seconds": 0.1, "state": "APPROVED", "decision": "approved by alice at t"}}', [])
    out = capsys.readouterr().out
    assert "approve_push                   APPROVED" in out and "approved by alice at t" in out


def test_an_in_process_run_with_approval_on_is_refused(home, capsys):
    refused = run_main(capsys, "run", "--set", "require_approval=true")
    assert refused.returncode == 2
    assert "require_approval needs a person to answer" in refused.stderr
    assert "mnist-pipeline airflow up" in refused.stderr
    assert not home.logs.exists()


def test_bad_config_is_refused_before_anything_runs(home, capsys):
    refused = run_main(capsys, "run", "--set", "epochs=0")
    assert refused.returncode == 2
    assert "epochs must be at least 1" in refused.stdout + refused.stderr
    assert not home.root.exists()


def test_resume_on_a_home_without_runs_says_so(home, capsys):
    refused = run_main(capsys, "resume")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip() == f"mnist-pipeline resume: no metadata store at {home.metadata_db}: " \
        "no pipeline has run in this home yet"
