"""What `mnist-pipeline run` shows of a task's output: progress events and the Trainer's epochs."""
from pipeline.cli.run import show_progress
from pipeline.orchestration.progress import PROGRESS_MARKER

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


def test_a_log_read_again_shows_only_its_new_lines_whatever_came_before_them():
    from collections import Counter

    from pipeline.services.airflow_api import unseen

    shown = Counter()
    running = ["Could not read served logs", "started", "epoch 1/1", "epoch 1/1"]
    assert unseen(shown, running) == running
    # Finished: the note on served logs is gone, one line repeats once more, the end is new.
    assert unseen(shown, ["started", "epoch 1/1", "epoch 1/1", "epoch 1/1", "finished"]) == ["epoch 1/1", "finished"]
    assert unseen(shown, ["started", "finished"]) == []


def test_the_span_a_run_ingests_and_the_spans_waiting_are_shown(capsys):
    show_progress(f'{PROGRESS_MARKER} {{"event": "finished", "node": "prepare_data", "run_id": "r1", '
                  f'"seconds": 9.0, "state": "COMPLETE", "span": 2, "waiting": [3, 4]}}', [])
    out = capsys.readouterr().out
    assert "this run ingests span 2; span(s) 3-4 wait for the next runs, one each" in out
