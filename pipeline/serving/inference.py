"""Classify digits with a pushed model, from Python, locally or through TensorFlow Serving.

    from pipeline.serving.inference import load_model

    model = load_model()                        # the latest version under $MNIST_PIPELINE_HOME/serving/<pipeline_name>
    model.classify(images)                      # [N, 28, 28] array of 0-255 values -> list of Prediction
    model.classify_files(["seven.png", "digits.npy"])   # -> (predictions, errors)

    remote = load_model(server="http://127.0.0.1:8501")   # the same, through TF Serving's REST API

Both go through the model's `predict_images` signature (raw 0-255 pixels in, the same transform
graph as training inside), so a local and a served model give the same answers.

When the home's storage is a bucket (`pipeline.storage`), the pushed versions are listed there and
the one loaded is fetched first to a local temporary folder, once per process (`cached_copy`):
TensorFlow reads no object storage here (pipeline/storage/staging.py says why).
"""
from __future__ import annotations

import atexit
import dataclasses
import json
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from components import tf_env
from components.features import IMAGES_SIGNATURE
from pipeline.config import PipelineConfig, load_config
from pipeline.home import Home
from pipeline.serving import imaging
from pipeline.storage import files
from pipeline.storage.settings import is_remote

BATCH = 256
# Below this probability for its digit, an answer is flagged unreliable: on MNIST's own test digits
# the model is this sure of nearly every answer, and on pictures unlike them it is often not.
MIN_CONFIDENCE = 0.8


class ModelError(LookupError):
    """No model to classify with, or the model server refused or failed; the message says why."""


@dataclasses.dataclass(frozen=True)
class Prediction:
    source: str
    digit: int
    probabilities: tuple[float, ...]
    # Why the answer is not to be trusted (`unreliable_because`), or None.
    unreliable: str | None = None

    @property
    def confidence(self) -> float:
        return self.probabilities[self.digit]

    def to_dict(self) -> dict:
        return {"source": self.source, "digit": self.digit, "confidence": round(self.confidence, 6),
                "reliable": self.unreliable is None, "unreliable_because": self.unreliable,
                "probabilities": [round(p, 6) for p in self.probabilities]}


def unreliable_because(pixels: np.ndarray, probabilities) -> str | None:
    """The documented rule: an answer is unreliable when the digit does not look like MNIST's (no
    ink, too little or too much, or ink outside the digit's box: `imaging.unlike_training_data`),
    or when the model gives its digit less than MIN_CONFIDENCE."""
    confidence = float(max(probabilities))
    return imaging.unlike_training_data(pixels) or (
        f"low confidence ({confidence:.2f} < {MIN_CONFIDENCE})" if confidence < MIN_CONFIDENCE else None)


@dataclasses.dataclass(frozen=True)
class FileError:
    source: str
    error: str

    def to_dict(self) -> dict:
        return {"source": self.source, "error": self.error}


def served_name(home: Home) -> str:
    """The model's name in serving: the pipeline's name (`pipeline_name` in the home's config),
    since the Pusher pushes to <home>/serving/<pipeline_name>/ (`Home.serving_dir`)."""
    return load_config(home=home).pipeline_name


def _versions(folder: Path) -> list[tuple[int, Path]]:
    return sorted((int(p.name), p) for p in folder.glob("*")
                  if p.name.isdigit() and (p / "saved_model.pb").is_file()) if folder.is_dir() else []


def latest_model_dir(home: Home | None = None, model_name: str | None = None) -> Path:
    """The newest pushed version: <home>/serving/<model_name>/<highest version>/; the model name
    defaults to the home's pipeline name (`served_name`)."""
    home = home or Home.from_env()
    name = model_name or served_name(home)
    versions = _versions(home.model_dir(name))
    if not versions:
        others = sorted(p.name for p in home.serving_root.glob("*") if _versions(p))
        hint = (f"; models pushed here: {', '.join(others)} (--model-name NAME, or set pipeline_name in "
                f"{home.config_file})") if others else ": run `mnist-pipeline run` first, or pass --server"
        raise ModelError(f"no pushed model in {home.model_dir(name)}{hint}")
    return versions[-1][1]


# Stored location -> its local copy: a pushed version never changes once its saved_model.pb is
# there, so one fetch per process serves every load of it. The copies go when the process ends.
_copies: dict[str, Path] = {}
_copies_lock = threading.Lock()


def cached_copy(location: str | Path) -> Path:
    """`location` itself when local; a stored version folder (or one file of it) fetched to a local
    temporary folder, under its own name (Keras reads a `.keras` file by its suffix), the first
    time this process asks for it. Unlike `files.local_copy`, whose copy goes with its block, it
    stays for the process: a model is loaded once and asked many times (the report, a notebook).
    ModelError when the store cannot be read."""
    if not is_remote(location):
        return Path(location)
    key = str(location).rstrip("/")
    with _copies_lock:
        if key not in _copies:
            work = Path(tempfile.mkdtemp(prefix="mnist-pipeline-model-"))
            target = work / key.rsplit("/", 1)[-1]
            try:
                files.download(key, target)
            except OSError as err:  # s3fs's errors: missing objects, refused credentials, no endpoint
                shutil.rmtree(work, ignore_errors=True)
                raise ModelError(f"cannot fetch {key} from the store: {err}") from None
            except BaseException:
                shutil.rmtree(work, ignore_errors=True)
                raise
            atexit.register(shutil.rmtree, work, ignore_errors=True)
            _copies[key] = target
        return _copies[key]


class _Model:
    """What a local and a served model share: batching, and reading files."""

    where: str

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def classify(self, images, sources: Sequence[str] | None = None) -> list[Prediction]:
        """[N, 28, 28] (or [28, 28], [N, 784]) digits of 0-255 values -> one Prediction each."""
        digits = imaging.as_digits(images)
        sources = list(sources) if sources is not None else [f"[{i}]" for i in range(len(digits))]
        predictions = []
        for start in range(0, len(digits), BATCH):
            batch = self.probabilities(digits[start:start + BATCH].astype(np.float32))
            for source, pixels, row in zip(sources[start:start + BATCH], digits[start:start + BATCH], batch):
                predictions.append(Prediction(source, int(np.argmax(row)), tuple(float(p) for p in row),
                                              unreliable_because(pixels, row)))
        return predictions

    def classify_files(self, paths: Iterable[str | Path]) -> tuple[list[Prediction], list[FileError]]:
        """Every digit in the files; a file that cannot be read becomes a FileError, the rest go on."""
        digits, errors = [], []
        for path in paths:
            try:
                digits.extend(imaging.read_digits(path))
            except imaging.ImageError as err:
                errors.append(FileError(str(path), str(err)))
        if not digits:
            return [], errors
        return self.classify(np.stack([d.pixels for d in digits]), [d.source for d in digits]), errors


class LocalModel(_Model):
    """A pushed SavedModel, loaded in this process (from a local copy when it is stored)."""

    def __init__(self, model_dir: str | Path):
        tf_env.configure()
        tf_env.quiet_tensorflow()
        import tensorflow as tf

        self.where = str(model_dir)
        local = cached_copy(model_dir)
        try:
            loaded = tf.saved_model.load(str(local))
        except (OSError, ValueError) as err:
            raise ModelError(f"{model_dir}: not a loadable SavedModel ({err})") from None
        if IMAGES_SIGNATURE not in loaded.signatures:
            raise ModelError(f"{model_dir} has no {IMAGES_SIGNATURE!r} signature (it has "
                             f"{', '.join(loaded.signatures)}): it was pushed by an older version; run the "
                             "pipeline again")
        self._loaded = loaded  # the signature's variables live as long as the loaded object
        self._signature = loaded.signatures[IMAGES_SIGNATURE]
        self._tf = tf

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        return self._signature(images=self._tf.constant(images))["probabilities"].numpy()


class ServingModel(_Model):
    """A model behind TensorFlow Serving's REST API (POST /v1/models/<name>[/versions/<v>]:predict).

    `form` picks the request format: "rows" sends {"instances": [...]} (one entry per image) and
    reads {"predictions": [...]}; "columns" sends {"inputs": ...} and reads {"outputs": ...}.
    """

    def __init__(self, server: str, model_name: str = PipelineConfig.pipeline_name, version: int | None = None,
                 form: str = "rows", timeout: float = 60.0, label: str | None = None):
        if form not in ("rows", "columns"):
            raise ValueError(f"form must be 'rows' or 'columns', got {form!r}")
        self.model_url = model_url(server, model_name, version, label)
        self.where = self.model_url
        self.form, self.timeout = form, timeout
        self.hint = ""  # added to the server's refusals (the labels this home knows of)

    def request_body(self, images: np.ndarray) -> dict:
        pixels = images.round().astype(int).tolist()  # 0-255 integers: the smallest JSON
        if self.form == "rows":
            return {"signature_name": IMAGES_SIGNATURE, "instances": pixels}
        return {"signature_name": IMAGES_SIGNATURE, "inputs": {"images": pixels}}

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        answer = self._post(self.model_url + ":predict", self.request_body(images))
        try:
            if self.form == "rows":
                rows = answer["predictions"]
                probabilities = [row["probabilities"] for row in rows]
            else:
                probabilities = answer["outputs"]["probabilities"]
            result = np.asarray(probabilities, dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise ModelError(f"{self.model_url} answered in an unexpected form: {json.dumps(answer)[:300]}") from None
        if result.shape != (len(images), 10):
            raise ModelError(f"{self.model_url} returned probabilities of shape {list(result.shape)} "
                             f"for {len(images)} images")
        return result

    def status(self) -> dict:
        """The model server's view of the model: GET /v1/models/<name> (versions and their state)."""
        return self._request(urllib.request.Request(self.model_url))

    def _post(self, url: str, body: dict) -> dict:
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        return self._request(request)

    def _request(self, request: urllib.request.Request) -> dict:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            raise ModelError(f"{request.full_url}: HTTP {err.code}: {_server_error(err)}{self.hint}") from None
        except urllib.error.URLError as err:
            raise ModelError(f"cannot reach the model server at {request.full_url}: {err.reason}") from None
        except (TimeoutError, ConnectionError) as err:
            raise ModelError(f"the model server at {request.full_url} did not answer: {err}") from None
        except json.JSONDecodeError:
            raise ModelError(f"{request.full_url} did not answer with JSON") from None


def _server_error(err: urllib.error.HTTPError) -> str:
    """TF Serving puts the reason in {"error": "..."}."""
    body = err.read().decode(errors="replace")
    try:
        return json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return body[:300] or err.reason


def model_url(server: str, model_name: str = PipelineConfig.pipeline_name, version: int | None = None,
              label: str | None = None) -> str:
    """http://host:8501 (or a full .../v1/models/<name> URL) -> the model's REST URL, for a version
    (.../versions/<v>) or a version label (.../labels/<label>, TF Serving's REST form for labels)."""
    if version is not None and label:
        raise ValueError("give a version or a label, not both")

    parts = urlsplit(server if "://" in server else f"http://{server}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"--server takes the model server's REST address, e.g. http://127.0.0.1:8501; got {server!r}")
    base = f"{parts.scheme}://{parts.netloc}"
    if "/v1/models/" in parts.path:
        return base + parts.path.rstrip("/")
    url = f"{base}/v1/models/{model_name}"
    if label:
        return f"{url}/labels/{label}"
    return f"{url}/versions/{version}" if version is not None else url


def labelled_version(home: Home, model_name: str, label: str) -> int:
    """The version `label` names in the model's models config (`pipeline.serving.models_config`);
    ModelError naming the labels that exist when it names none."""
    from pipeline.serving import models_config

    path = home.models_config_of(model_name)
    labels = models_config.read_labels(path)
    if label not in labels:
        named = ", ".join(f"{k} -> {v}" for k, v in sorted(labels.items())) or "none"
        raise ModelError(f"no version of {model_name} is labelled {label!r}; labels: {named} ({path})")
    return labels[label]


def load_model(home: Home | None = None, server: str | None = None, model_name: str | None = None,
               version: int | None = None, form: str = "rows", label: str | None = None) -> _Model:
    """The model to classify with: a TF Serving endpoint if `server` is given, else the latest (or
    the given `version`, or the version `label` names, of the) model pushed under the home folder.
    The model's name defaults to the home's pipeline name, for both (`served_name`)."""
    home = home or Home.from_env()
    model_name = model_name or served_name(home)
    if version is not None and label:
        raise ValueError("give --version or --label, not both")
    if server:
        remote = ServingModel(server, model_name, version, form, label=label)
        if label:
            from pipeline.serving import models_config

            known = models_config.read_labels(home.models_config_of(model_name))
            remote.hint = "; labels in this home's models config: " + (
                ", ".join(f"{k} -> {v}" for k, v in sorted(known.items())) or "none")
        return remote
    if label:
        version = labelled_version(home, model_name, label)
    if version is not None:
        model_dir = home.model_dir(model_name) / str(version)
        if not (model_dir / "saved_model.pb").is_file():
            raise ModelError(f"no pushed model version {version} in {model_dir.parent}")
        return LocalModel(model_dir)
    return LocalModel(latest_model_dir(home, model_name))
