"""Serving labels (pipeline/serving/registry.py) on a real MLMD store: push two versions, promote,
roll back, prune, each checked three ways: the models config parsed with TF Serving's protos,
`serving status --json`, and the MLMD executions; and bad changes refused with nothing changed."""
import json

import pytest
from ml_metadata.metadata_store import metadata_store

from pipeline.cli.main import main
from pipeline.config import PipelineConfig
from pipeline.metadata import serving_changes
from pipeline.metadata.store import connection_config
from pipeline.serving import models_config, registry
from tests.support.pushes import push


@pytest.fixture
def served(home):
    home.root.mkdir(parents=True)
    return registry.Served(home, PipelineConfig())


@pytest.fixture
def store(served):
    return metadata_store.MetadataStore(connection_config(served.home))


def _config_labels(served) -> tuple[dict[str, int], list[int]]:
    """The models config as TF Serving reads it: its labels and the versions it serves."""
    [model] = models_config.parse(served.config_file.read_text()).model_config_list.config
    assert model.name == "mnist" and model.base_path == str(served.folder)
    return dict(model.version_labels), sorted(model.model_version_policy.specific.versions)


def _status(capsys) -> dict:
    capsys.readouterr()
    assert main(["serving", "status", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _executions(store) -> list[tuple]:
    """(action, label, version, previous, input ids, output ids) of every recorded change."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    found = []
    for change in serving_changes.history(store, "mnist"):
        events = store.get_events_by_execution_ids([change.execution_id])
        found.append((change.action, change.label, change.version, change.previous,
                      [e.artifact_id for e in events if e.type == pb.Event.INPUT],
                      [e.artifact_id for e in events if e.type == pb.Event.OUTPUT]))
    return found


def test_push_promote_rollback_prune(served, store, capsys):
    first = push(served.home, store, "run-1", 100)
    assert registry.record_push(served, store, 100, "the Pusher of run-1") == {"stable": 100}
    second = push(served.home, store, "run-2", 200)
    registry.record_push(served, store, 200, "the Pusher of run-2")
    registry.record_push(served, store, 200, "the Pusher of run-2")  # a re-run task: nothing new
    assert _config_labels(served) == ({"stable": 100, "canary": 200}, [100, 200])
    status = _status(capsys)
    assert [(v["version"], v["labels"], v["run_id"]) for v in status["versions"]] == \
        [(100, ["stable"], "run-1"), (200, ["canary"], "run-2")]
    assert _executions(store) == [("push", "stable", 100, 0, [], [first]),
                                  ("push", "canary", 200, 0, [], [second])]

    assert main(["serving", "promote", "200"]) == 0
    # 100, stable before, stays loaded for a rollback.
    assert _config_labels(served) == ({"stable": 200, "canary": 200}, [100, 200])
    status = _status(capsys)
    assert status["labels"] == {"stable": 200, "canary": 200}
    assert status["history"][-1]["action"] == "promote" and status["history"][-1]["command"] == \
        "mnist-pipeline serving promote 200"
    assert _executions(store)[-1] == ("promote", "stable", 200, 100, [first], [second])

    assert main(["serving", "rollback"]) == 0
    assert _config_labels(served) == ({"stable": 100, "canary": 200}, [100, 200])
    assert _status(capsys)["labels"] == {"stable": 100, "canary": 200}
    assert _executions(store)[-1] == ("rollback", "stable", 100, 200, [second], [first])
    with pytest.raises(LookupError, match="nothing to roll back to"):  # 100 was the first stable
        registry.rollback(served, store)

    third = push(served.home, store, "run-3", 300)
    registry.record_push(served, store, 300, "the Pusher of run-3")  # canary moves on: 200 has no label
    assert _executions(store)[-1] == ("push", "canary", 300, 200, [second], [third])
    assert main(["serving", "prune", "--keep", "0"]) == 0
    assert "removed 1 version(s) without a label, oldest first: 200" in capsys.readouterr().out
    assert not (served.folder / "200").exists() and (served.folder / "100").is_dir()
    assert _config_labels(served) == ({"stable": 100, "canary": 300}, [100, 300])
    assert [v["version"] for v in _status(capsys)["versions"]] == [100, 300]
    assert _executions(store)[-1] == ("prune", "", 200, 0, [second], [])


def test_bad_promotes_are_refused_and_change_nothing(served, store, capsys):
    push(served.home, store, "run-1", 100)
    registry.record_push(served, store, 100, "the Pusher of run-1")
    push(served.home, store, "run-2", 200, blessed=False)
    (served.folder / "300").mkdir()
    (served.folder / "300" / "saved_model.pb").write_bytes(b"")  # copied in by hand: no record
    before, changes = served.config_file.read_bytes(), len(serving_changes.history(store, "mnist"))
    for version, message in (("999", "no version 999 in"), ("200", "version 200 was never blessed"),
                             ("300", "version 300 was never blessed"), ("100", "version 100 is stable already")):
        capsys.readouterr()
        assert main(["serving", "promote", version]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert served.config_file.read_bytes() == before
    assert len(serving_changes.history(store, "mnist")) == changes


def test_rollback_with_no_stable_says_so(served, store, capsys):
    push(served.home, store, "run-1", 100)
    assert main(["serving", "rollback"]) == 2
    assert "nothing to roll back" in capsys.readouterr().err


def test_lineage_still_finds_the_pusher_after_label_changes(served, store):
    from pipeline.metadata.lineage import producing_run

    first = push(served.home, store, "run-1", 100)
    registry.record_push(served, store, 100, "x")
    push(served.home, store, "run-2", 200)
    registry.record_push(served, store, 200, "x")
    registry.promote(served, store, 200, "x")
    registry.rollback(served, store, "x")
    assert producing_run(store, first) == "run-1"
    assert [c.action for c in serving_changes.changes_of(store, first)] == ["push", "promote", "rollback"]


def test_lineage_lists_the_label_changes(served, store, capsys):
    push(served.home, store, "run-1", 100)
    registry.record_push(served, store, 100, "the Pusher of run-1")
    capsys.readouterr()
    assert main(["lineage", "100", "--json"]) == 0
    lineage = json.loads(capsys.readouterr().out)
    assert lineage["run_id"] == "run-1"
    assert [(c["action"], c["label"], c["command"]) for c in lineage["serving_changes"]] == \
        [("push", "stable", "the Pusher of run-1")]


def test_the_stable_before_stays_loaded_until_it_is_pruned(served, store):
    for run, version in (("run-1", 100), ("run-2", 200), ("run-3", 300)):
        push(served.home, store, run, version)
        registry.record_push(served, store, version, f"the Pusher of {run}")
    registry.promote(served, store, 200, "x")
    registry.promote(served, store, 300, "x")
    assert _config_labels(served) == ({"stable": 300, "canary": 300}, [200, 300])
    assert registry.prune(served, store, keep=0, command="x") == [100, 200]
    assert _config_labels(served) == ({"stable": 300, "canary": 300}, [300])
    with pytest.raises(LookupError, match="no earlier stable version is on disk"):
        registry.rollback(served, store, "x")


def test_a_label_in_use_moves_to_an_unloaded_version_in_two_steps_when_a_server_polls(home, store):
    """TF Serving refuses, at every poll, to move a label in use to a version it has not loaded:
    the version is added first, the label moves one poll interval later. A thread reads the file
    as the server does, with TF Serving's protos."""
    import threading
    import time

    home.root.mkdir(parents=True, exist_ok=True)
    served = registry.Served(home, PipelineConfig(serving_poll_seconds=1))
    for run, version in (("run-1", 100), ("run-2", 200)):
        push(home, store, run, version)
        registry.record_push(served, store, version, "x")
    push(home, store, "run-3", 300)
    seen, done = [], threading.Event()

    def poll():
        while not done.is_set():
            state = _config_labels(served)
            if not seen or seen[-1] != state:
                seen.append(state)
            time.sleep(0.05)

    poller = threading.Thread(target=poll)
    poller.start()
    deadline = time.monotonic() + 30
    while not seen and time.monotonic() < deadline:  # the poller has seen the state before the push
        time.sleep(0.01)
    try:
        registry.record_push(served, store, 300, "x")  # canary, in use at 200, moves to 300
    finally:
        done.set()
        poller.join()
    if seen[-1] != _config_labels(served):
        seen.append(_config_labels(served))
    assert seen == [({"stable": 100, "canary": 200}, [100, 200]),
                    ({"stable": 100, "canary": 200}, [100, 200, 300]),
                    ({"stable": 100, "canary": 300}, [100, 300])]
