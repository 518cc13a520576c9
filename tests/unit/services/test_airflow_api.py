"""The Airflow REST API v2 client (pipeline/services/airflow_api.py), without a server."""
from collections import Counter

from pipeline.services.airflow_api import unseen


def test_a_log_read_again_shows_only_its_new_lines_whatever_came_before_them():
    shown = Counter()
    running = ["Could not read served logs", "started", "epoch 1/1", "epoch 1/1"]
    assert unseen(shown, running) == running
    # Finished: the note on served logs is gone, one line repeats once more, the end is new.
    assert unseen(shown, ["started", "epoch 1/1", "epoch 1/1", "epoch 1/1", "finished"]) == ["epoch 1/1", "finished"]
    assert unseen(shown, ["started", "finished"]) == []
