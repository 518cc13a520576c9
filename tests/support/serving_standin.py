"""A STAND-IN for TensorFlow Serving's REST API, for tests only.

No TensorFlow Serving binary can be installed on these machines (not on PyPI or Debian, and no
Docker engine runs), so tests of `predict --server` talk to this small HTTP server instead. It
implements the part of the documented REST contract the project uses
(https://www.tensorflow.org/tfx/serving/api_rest), over the real exported SavedModel:

- GET  /v1/models/<name>[/versions/<v>]           -> {"model_version_status": [...]}
- POST /v1/models/<name>[/versions/<v>]:predict   row form {"instances": [...]} -> {"predictions": [...]},
  columnar form {"inputs": ...} -> {"outputs": ...}; optional "signature_name" (default
  serving_default); binary strings as {"b64": ...}; several named outputs come back as a list of
  objects (rows) or an object (columns); errors as {"error": "..."} with an HTTP error status.

- POST /v1/models/<name>/labels/<label>:predict   the version a label names in the models config.

Like the model server without a models config, it serves every numeric version folder under the
base path, the highest by default. Given `models_config` (the --model_config_file), it reads the
file on every request, as the server polls it: only the versions the config lists are served, and
labels route as its `version_labels` say. Every request is recorded in `requests` so tests can
check exactly what was sent.
"""
from __future__ import annotations

import base64
import http.server
import json
import re
import threading
from pathlib import Path

import tensorflow as tf

_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                   r"(?::(?P<verb>\w+))?$")


class ServingError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class TFServingStandIn:
    def __init__(self, base_path: Path, model_name: str = "mnist", models_config: Path | None = None):
        self.model_name = model_name
        self.models_config = models_config
        self.models = {int(p.name): tf.saved_model.load(str(p))
                       for p in Path(base_path).iterdir() if p.name.isdigit()}
        if not self.models:
            raise FileNotFoundError(f"no numeric version folder in {base_path}")
        self.requests: list[dict] = []
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> TFServingStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- The REST contract -------------------------------------------------------------------

    def _config(self) -> tuple[set[int], dict[str, int]]:
        """The versions served and the labels, from the models config (every version, no labels, without one)."""
        if self.models_config is None or not self.models_config.is_file():
            return set(self.models), {}
        from google.protobuf import text_format
        from tensorflow_serving.config import model_server_config_pb2

        config = text_format.Parse(self.models_config.read_text(), model_server_config_pb2.ModelServerConfig())
        [model] = [m for m in config.model_config_list.config if m.name == self.model_name] or [None]
        if model is None:
            return set(), {}
        policy = model.model_version_policy
        served = set(policy.specific.versions) if policy.WhichOneof("policy_choice") == "specific" else set(self.models)
        return served & set(self.models), dict(model.version_labels)

    def _model(self, name: str, version: str | None, label: str | None = None):
        served, labels = self._config()
        if label is not None:
            if name == self.model_name and label not in labels:
                raise ServingError(400, f"Unrecognized servable version label: {label}")
            version = str(labels.get(label, ""))
        wanted = int(version) if version else max(served, default=0)
        if name != self.model_name or wanted not in served:
            label = f"Specific({name}, {version})" if version else f"Latest({name})"
            raise ServingError(404, f"Servable not found for request: {label}")
        return wanted, self.models[wanted]

    def status(self, name: str, version: str | None) -> dict:
        versions = [self._model(name, version)[0]] if version else sorted(self._config()[0], reverse=True)
        return {"model_version_status": [
            {"version": str(v), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
            for v in versions]}

    def predict(self, name: str, version: str | None, body, label: str | None = None) -> dict:
        _, model = self._model(name, version, label)
        if not isinstance(body, dict):
            raise ServingError(400, "JSON Value is not an object")
        signature_name = body.get("signature_name", "serving_default")
        if signature_name not in model.signatures:
            raise ServingError(400, f'Serving signature name: "{signature_name}" not found in signature def')
        signature = model.signatures[signature_name]
        specs = signature.structured_input_signature[1]
        if ("instances" in body) == ("inputs" in body):
            raise ServingError(400, "Missing 'inputs' or 'instances' key" if "instances" not in body
                               else "Both 'inputs' and 'instances' keys are specified; only one is allowed")
        if "instances" in body:
            instances = body["instances"]
            if not isinstance(instances, list) or not instances:
                raise ServingError(400, "Expecting 'instances' to be a list/array of at least one element")
            if all(isinstance(i, dict) and "b64" not in i for i in instances):
                columns = {key: [i.get(key) for i in instances] for key in specs}
            elif len(specs) == 1:
                columns = {next(iter(specs)): instances}
            else:
                raise ServingError(400, "instances must be objects keyed by input name: the signature has "
                                        f"{len(specs)} inputs")
        else:
            inputs = body["inputs"]
            columns = inputs if isinstance(inputs, dict) and "b64" not in inputs else {next(iter(specs)): inputs}
        missing = set(specs) - set(columns)
        if missing or set(columns) - set(specs):
            raise ServingError(400, f"inputs {sorted(columns)} do not match the signature's {sorted(specs)}")
        tensors = {}
        for key, spec in specs.items():
            try:
                tensors[key] = tf.constant(_decode(columns[key]), dtype=spec.dtype)
            except (TypeError, ValueError) as err:
                raise ServingError(400, f"input {key!r}: {err}") from None
            if not spec.shape.is_compatible_with(tensors[key].shape):
                raise ServingError(400, f"input {key!r} has shape {tensors[key].shape}, the signature "
                                        f"expects {spec.shape}")
        outputs = {key: value.numpy().tolist() for key, value in signature(**tensors).items()}
        if "instances" in body:
            count = len(next(iter(outputs.values())))
            if len(outputs) == 1:
                return {"predictions": next(iter(outputs.values()))}
            return {"predictions": [{key: value[i] for key, value in outputs.items()} for i in range(count)]}
        return {"outputs": next(iter(outputs.values())) if len(outputs) == 1 else outputs}

    def _handler(self):
        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def _answer(self, status: int, body: dict) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _serve(self, method: str) -> None:
                match = _PATH.match(self.path)
                body = None
                if method == "POST":
                    raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        standin.requests.append({"method": method, "path": self.path, "body": raw.decode()})
                        return self._answer(400, {"error": "JSON Parse error: Invalid value"})
                standin.requests.append({"method": method, "path": self.path, "body": body,
                                         "content_type": self.headers.get("Content-Type")})
                try:
                    if not match:
                        raise ServingError(404, f"Malformed request: {method} {self.path}")
                    verb = match["verb"]
                    if method == "GET" and verb is None:
                        return self._answer(200, standin.status(match["name"], match["version"]))
                    if method == "POST" and verb == "predict":
                        return self._answer(200, standin.predict(match["name"], match["version"], body, match["label"]))
                    raise ServingError(404, f"Malformed request: {method} {self.path}")
                except ServingError as err:
                    self._answer(err.status, {"error": str(err)})

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

        return Handler


def _decode(value):
    """JSON values -> Python values for a tensor; {"b64": ...} -> bytes."""
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value

