"""TensorFlow's and Beam's reads and writes on a local copy, for executions whose artifacts are stored.

TensorFlow 2.16 reads and writes `s3://` only through tensorflow-io, which fails against
SeaweedFS (docs/storage.md: every ranged read asks for bytes=0-18446744073709551615, which the
server refuses, so SavedModels and checkpoints cannot be read back), and Beam would need its own S3
filesystem with its own settings. So an execution whose artifacts are stored runs on local copies:
its input artifacts are fetched to a folder of its own, its outputs are written there and put in
the store once the executor succeeded, and MLMD records the stored URIs only. A failed execution
leaves nothing in the store. Everything else TFX does with files (the launcher's output folders,
drivers, the Pusher's copy) goes through `pipeline.storage.tfx_fileio`.
"""
from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

from tfx.orchestration.portable import launcher

from pipeline.storage import files
from pipeline.storage.settings import is_remote

log = logging.getLogger(__name__)


def _artifacts(artifact_map) -> list:
    return [a for artifacts in artifact_map.values() for a in artifacts]


class StagingLauncher(launcher.Launcher):
    """TFX's portable launcher, with each execution's stored artifacts staged on local disk."""

    def _run_executor(self, execution_info):
        inputs, outputs = _artifacts(execution_info.input_dict), _artifacts(execution_info.output_dict)
        if not any(is_remote(a.uri) for a in inputs + outputs):
            return super()._run_executor(execution_info)
        with tempfile.TemporaryDirectory(prefix="mnist-pipeline-staged-") as work:
            return self._run_staged(execution_info, Path(work), inputs, outputs)

    def _run_staged(self, execution_info, work: Path, inputs: list, outputs: list):
        import attr

        stored = {id(a): a.uri for a in inputs + outputs}
        started = time.monotonic()
        for index, artifact in enumerate(inputs):
            if is_remote(artifact.uri):
                local = work / "inputs" / str(index)
                files.download(artifact.uri, local)
                artifact.uri = str(local)
        if inputs:
            log.info("staged %d input artifact(s) from the store in %.1f s", len(inputs), time.monotonic() - started)
        for index, artifact in enumerate(outputs):
            artifact.uri = str(work / "outputs" / str(index))
        local_info = attr.evolve(execution_info, execution_output_uri=str(work / "executor_output.pb"),
                                 stateful_working_dir=str(work / "stateful"), tmp_dir=str(work / "tmp") + "/")
        (work / "stateful").mkdir()
        (work / "tmp").mkdir()
        try:
            executor_output = super()._run_executor(local_info)
            started = time.monotonic()
            for artifact in outputs:
                files.upload(Path(artifact.uri), stored[id(artifact)])
            log.info("put %d output artifact(s) in the store in %.1f s", len(outputs), time.monotonic() - started)
        finally:
            local_uris = {a.uri: stored[id(a)] for a in outputs}
            for artifact in inputs + outputs:
                artifact.uri = stored[id(artifact)]
        # The executor's own account of its outputs names the local copies: name the stored ones.
        for artifact_list in executor_output.output_artifacts.values():
            for artifact in artifact_list.artifacts:
                artifact.uri = local_uris.get(artifact.uri, artifact.uri)
        return executor_output
