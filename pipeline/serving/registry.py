"""One pipeline's served model as teams run it: the versions pushed to serving/<pipeline_name>/,
their labels `stable` and `canary` in TensorFlow Serving's models config
(`pipeline.serving.models_config`), and every change to them recorded in MLMD
(`pipeline.metadata.serving_changes`). `mnist-pipeline serving` and the Pusher's task call it.

Each change validates first and changes nothing when refused; the file is written (atomically)
before the change is recorded, under a lock so two changes never interleave.

The version folders and the models config lie under the home's `serving_root`: its own folder, or
the bucket its `storage` names (`pipeline.storage`), reached through the file layer either way. The
lock is a local file of the home's own folder (`SERVING_LOCK`), so it serialises this machine's
changes whether the files are local or stored.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import getpass
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from pipeline.config import PipelineConfig
from pipeline.home import Home
from pipeline.metadata import serving_changes
from pipeline.serving import models_config
from pipeline.storage import files
from pipeline.storage.settings import is_remote

# The lock every change takes, in the home's own folder (never in the store: it is an flock).
SERVING_LOCK = "serving.lock"


def command_line() -> str:
    return "mnist-pipeline " + shlex.join(sys.argv[1:])


def user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclasses.dataclass(frozen=True)
class Served:
    home: Home
    config: PipelineConfig

    @property
    def name(self) -> str:
        return self.config.pipeline_name

    @property
    def folder(self) -> Path:
        return self.home.serving_dir(self.config)

    @property
    def config_file(self) -> Path:
        return self.home.models_config(self.config)

    @property
    def base_path(self) -> str:
        """The version folders' parent as the model server sees it: the stored URI itself when the
        home's storage is a bucket (TensorFlow Serving reads s3:// natively), else its path on the
        server's disk (`serving_base_path`), else this machine's path."""
        if is_remote(self.folder):
            return str(self.folder)
        if self.config.serving_base_path:
            return f"{self.config.serving_base_path.rstrip('/')}/{self.name}"
        return str(self.folder)

    def versions(self) -> list[int]:
        """The versions on disk (or in the store), oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(int(p.name) for p in self.folder.iterdir()
                      if p.name.isdigit() and (p / "saved_model.pb").is_file())

    def labels(self) -> dict[str, int]:
        return models_config.read_labels(self.config_file)

    def write(self, labels: dict[str, int], stack: list[int] | None = None) -> None:
        """Rewrite the models config: the labelled versions, and the last stable one before the
        current in `stack` (`stable_stack`, as it will be) that is still on disk, kept loaded.

        TF Serving applies a config's labels before it loads its new versions, and refuses (at
        every poll, so for good) to move a label in use to a version it has not loaded. So when
        a server polls the file (`serving_poll_seconds`) and a label in use moves to a version
        the file does not serve yet, the version is first added with the labels as they are, and
        the labels move one poll interval later, once the server has started loading it."""
        on_disk = set(self.versions())
        earlier = [v for v in (stack or [])[:-1] if v in on_disk and v != labels.get("stable")]
        standby = earlier[-1] if earlier else None
        served, current = self.served_versions(), self.labels()
        moved = {v for k, v in labels.items() if k in current and current[k] != v and v not in served}
        if moved and self.config.serving_poll_seconds:
            first = models_config.render(self.name, self.base_path, current, None)
            models_config.write(self.config_file, _also_serving(first, served | moved))
            time.sleep(self.config.serving_poll_seconds + 2)
        models_config.write(self.config_file, models_config.render(self.name, self.base_path, labels, standby))

    def served_versions(self) -> set[int]:
        """The versions the models config serves now."""
        if not self.config_file.is_file():
            return set()
        models = models_config.parse(self.config_file.read_text()).model_config_list.config
        return set(models[0].model_version_policy.specific.versions) if models else set()

    @property
    def lock_file(self) -> Path:
        """A local file, also when the models config is stored: `open` and flock need one."""
        return self.home.root / SERVING_LOCK

    @contextlib.contextmanager
    def locked(self):
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_file, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield


def _also_serving(text: str, versions: set[int]) -> str:
    """The config text with its specific versions replaced by `versions`."""
    from google.protobuf import text_format

    config = models_config.parse(text)
    policy = config.model_config_list.config[0].model_version_policy.specific
    del policy.versions[:]
    policy.versions.extend(sorted(versions))
    return text_format.MessageToString(config)


def record_push(served: Served, store, version: int, command: str) -> dict[str, int]:
    """Label a version the Pusher just pushed (`models_config.after_push`) and record it; a
    version already recorded changes nothing (a re-run or cached Pusher task)."""
    with served.locked():
        labels = served.labels()
        pushed = serving_changes.pushed_models(store, served.name)
        done = {c.version for c in serving_changes.history(store, served.name) if c.action == "push"}
        if version in done or version not in pushed:
            if not served.config_file.is_file():
                served.write(labels, stable_stack(store, served.name))
            return labels
        label = "stable" if "stable" not in labels else served.config.push_label
        new = models_config.after_push(labels, version, served.config.push_label)
        stack = stable_stack(store, served.name) + ([version] if label == "stable" else [])
        served.write(new, stack)
        previous = labels.get(label, 0)
        serving_changes.record(store, served.name, "push", label, version, previous,
                               _artifacts(pushed, previous), [pushed[version]], command, user())
        return new


def record_run_push(home: Home, connection_config, run_id: str) -> dict[str, int] | None:
    """After the run's Pusher task: label what it pushed, if it pushed (the models config exists
    after every push). Safe to call again for the same run."""
    from ml_metadata.metadata_store import metadata_store

    from components import nodes
    from pipeline.config import load_config
    from pipeline.metadata.records import recorded_config
    from pipeline.metadata.runs import component_runs
    from pipeline.metadata.store import property_of

    store = metadata_store.MetadataStore(connection_config)
    served = Served(home, load_config(overrides=recorded_config(store, run_id) or {}, home=home))
    pusher = component_runs(store, run_id).get(nodes.PUSHER)
    for artifact in pusher.outputs.get("pushed_model", []) if pusher else []:
        version = str(property_of(artifact, "pushed_version", ""))
        if property_of(artifact, "pushed", 0) == 1 and version.isdigit():
            return record_push(served, store, int(version), f"the Pusher of run {run_id}")
    return None


def promote(served: Served, store, version: int, command: str | None = None) -> dict[str, Any]:
    """Make `version` stable. Refused (nothing changes) for a version not on disk, one the pipeline
    never pushed, one whose push was not blessed, or the stable one itself."""
    from pipeline.metadata.lineage import pushed_blessed

    with served.locked():
        labels = served.labels()
        on_disk = served.versions()
        if version not in on_disk:
            raise LookupError(f"no version {version} in {served.folder}; its versions: "
                              f"{', '.join(map(str, on_disk)) or 'none'}")
        pushed = serving_changes.pushed_models(store, served.name)
        if version not in pushed or not pushed_blessed(store, pushed[version].id):
            raise ValueError(f"version {version} was never blessed: no blessed push of it is recorded in MLMD, "
                             "so it is not promoted")
        if labels.get("stable") == version:
            raise ValueError(f"version {version} is stable already")
        return _move(served, store, labels, "promote", version, command)


def rollback(served: Served, store, command: str | None = None) -> dict[str, Any]:
    """`stable` goes back to the version that was stable before it (one still on disk)."""
    with served.locked():
        labels = served.labels()
        current = labels.get("stable")
        if current is None:
            raise LookupError(f"nothing to roll back: no version is stable in {served.config_file}")
        on_disk = set(served.versions())
        earlier = [v for v in stable_stack(store, served.name)[:-1] if v != current and v in on_disk]
        if not earlier:
            raise LookupError(f"nothing to roll back to: version {current} is stable and no earlier stable "
                              "version is on disk")
        return _move(served, store, labels, "rollback", earlier[-1], command)


def stable_stack(store, name: str) -> list[int]:
    """The versions stable in turn, from the recorded changes: a push or promote adds one, a
    rollback takes the current one off (so two rollbacks go two steps back)."""
    stack: list[int] = []
    for change in serving_changes.history(store, name):
        if change.label != "stable":
            continue
        if change.action == "rollback":
            if stack:
                stack.pop()
            while stack and stack[-1] != change.version:
                stack.pop()
            if not stack:
                stack.append(change.version)
        else:
            stack.append(change.version)
    return stack


def _move(served: Served, store, labels: dict[str, int], action: str, version: int, command: str | None):
    pushed = serving_changes.pushed_models(store, served.name)
    previous = labels.get("stable", 0)
    new = {**labels, "stable": version}
    stack = stable_stack(store, served.name)
    if action == "rollback":
        stack = stack[:len(stack) - stack[::-1].index(version)] if version in stack else [version]
    else:
        stack.append(version)
    served.write(new, stack)
    execution_id = serving_changes.record(store, served.name, action, "stable", version, previous,
                                          _artifacts(pushed, previous), _artifacts(pushed, version),
                                          command or command_line(), user())
    return {"action": action, "label": "stable", "version": version, "previous": previous or None,
            "labels": new, "execution_id": execution_id}


def prune(served: Served, store, keep: int, command: str | None = None) -> list[int]:
    """Remove the versions that carry no label, oldest first, all but the newest `keep` of them;
    returns the removed versions. Labelled versions are never touched."""
    if keep < 0:
        raise ValueError(f"--keep takes 0 or more, got {keep}")
    with served.locked():
        labelled = set(served.labels().values())
        unlabelled = [v for v in served.versions() if v not in labelled]
        doomed = unlabelled[:max(len(unlabelled) - keep, 0)]
        pushed = serving_changes.pushed_models(store, served.name)
        for version in doomed:
            files.remove_tree(served.folder / str(version))
            serving_changes.record(store, served.name, "prune", "", version, 0, _artifacts(pushed, version), [],
                                   command or command_line(), user())
        if doomed:  # the stable version kept loaded for a rollback may be gone
            served.write(served.labels(), stable_stack(store, served.name))
        return doomed


def _artifacts(pushed: dict[int, Any], version: int) -> list:
    return [pushed[version]] if version in pushed else []


def status(served: Served, store) -> dict[str, Any]:
    """Each version on disk with its labels and where it came from; the labels; their history."""
    from pipeline.metadata.lineage import producing_run
    from pipeline.metadata.runs import summarize_run

    labels = served.labels()
    pushed = serving_changes.pushed_models(store, served.name)
    versions = []
    for version in served.versions():
        entry: dict[str, Any] = {"version": version, "labels": sorted(k for k, v in labels.items() if v == version),
                                 "path": str(served.folder / str(version)), "pushed_model_id": None, "run_id": None,
                                 "git_commit": None, "accuracy": None, "blessed": None, "trained_on_spans": [],
                                 "spans": None, "model_card": None}
        if version in pushed:
            entry["pushed_model_id"] = pushed[version].id
            run_id = producing_run(store, pushed[version].id)
            if run_id:
                summary = summarize_run(served.home, run_id, store)
                card = served.home.model_card(run_id, version)
                entry.update(run_id=run_id, git_commit=summary.git_commit, accuracy=summary.accuracy,
                             blessed=summary.blessed, trained_on_spans=summary.trained_on,
                             spans=summary.trained_spans or None, model_card=str(card) if card.is_file() else None)
        versions.append(entry)
    return {"model": served.name, "models_config": str(served.config_file),
            "models_config_exists": served.config_file.is_file(), "base_path": served.base_path,
            "labels": labels, "versions": versions,
            "history": [c.to_dict() for c in serving_changes.history(store, served.name)]}
