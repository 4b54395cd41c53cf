"""TF Serving's REST API over :class:`~tfhub_llm.tf_serving.versions.ModelVersions`: a request in, a JSON answer out.

    GET  /v1/models/NAME[/versions/N | /labels/L]              model status (versions and their states)
    GET  /v1/models/NAME[/versions/N | /labels/L]/metadata     SignatureDefs, as TF Serving renders them
    POST /v1/models/NAME[/versions/N | /labels/L]:predict      row ("instances") or columnar ("inputs") format
    POST /v1/models/NAME[/versions/N | /labels/L]:classify     (and :regress) answered as TF Serving answers them
                                                               for a signature of another method

Statuses as TF Serving's: 400 ``Malformed request: METHOD PATH`` for anything else and for bad bodies, 404 for an
unknown model, version or label, 504 when the model call outlives its deadline; 503 while no version is
AVAILABLE. Every problem raises :class:`~tfhub_llm.tf_serving.rest_json.RequestError`.
"""

from __future__ import annotations

import json
import re
import urllib.parse

import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2

from tfhub_llm.hub_contract import SERVING_SIGNATURE
from tfhub_llm.tf_serving.limits import ServerLimits
from tfhub_llm.tf_serving.rest_json import RequestError, columnar_inputs, input_specs, row_inputs, to_json
from tfhub_llm.tf_serving.versions import LoadedVersion, ModelVersions

_ROUTE = re.compile(r"^/v1/models/(?P<model>[^/:]+)(?:/versions/(?P<version>[0-9]+)|/labels/(?P<label>[^/:]+))?"
                    r"(?P<action>/metadata|:predict|:classify|:regress)?$")
_ROUTES = {("GET", ""), ("GET", "/metadata"), ("POST", ":predict"), ("POST", ":classify"), ("POST", ":regress")}
_CLASSIFY_REGRESS = {":classify": ("classification", "tensorflow/serving/classify"),
                     ":regress": ("regression", "tensorflow/serving/regress")}


def answer(model: ModelVersions, limits: ServerLimits, method: str, path: str, read_body) -> dict:
    """The JSON answer to `method` `path`; `read_body()` gives the body's bytes, called only once it is needed."""
    match = _ROUTE.match(path.split("?", 1)[0])
    action = match and (match["action"] or "")
    if match is None or (method, action) not in _ROUTES:
        raise RequestError(400, f"Malformed request: {method} {path}")
    model.check_name(urllib.parse.unquote(match["model"]))
    if match["label"] is not None:
        version = model.version_of_label(urllib.parse.unquote(match["label"]))
    else:
        version = None if match["version"] is None else int(match["version"])
    if action == "":
        return model.status(version)
    loaded = model.serving(version)
    if action == "/metadata":
        return model_metadata(model.name, loaded)
    try:
        body = json.loads(read_body())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestError(400, f"the request body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object")
    signature_name = body.get("signature_name", SERVING_SIGNATURE)
    if not isinstance(signature_name, str):
        raise RequestError(400, f"'signature_name' must be a string, not {json.dumps(signature_name)}")
    signature_def = loaded.signature_defs.get(signature_name)
    if signature_def is None:
        raise RequestError(400, f"signature '{signature_name}' not found in version {loaded.version}; it has "
                                f"{sorted(loaded.signature_defs)}")
    if action == ":predict":  # as in TF Serving, any signature can be run by :predict
        return predict(loaded, signature_name, body, limits)
    if signature_def.method_name != _CLASSIFY_REGRESS[action][1]:
        kind, method_name = _CLASSIFY_REGRESS[action]  # TF Serving checks the method first
        raise RequestError(400, f"Expected {kind} signature method_name to be {method_name}. "
                                f"Was: {signature_def.method_name}")
    raise RequestError(501, f"{action[1:]} signatures are not served by the development server; "
                                "TF Serving's model server answers them")


def predict(loaded: LoadedVersion, signature_name: str, body: dict, limits: ServerLimits) -> dict:
    """Answers a predict request body (a JSON object) with TF Serving's response shape."""
    if ("instances" in body) == ("inputs" in body):
        raise RequestError(400, "the request must have exactly one of 'instances' (row format) "
                                "or 'inputs' (columnar format)")
    _check_batch_size(body, limits.max_batch_size)
    specs = input_specs(loaded.signature_defs[signature_name])
    if "instances" in body:
        tensors, batch_size = row_inputs(body["instances"], specs)
    else:
        tensors, batch_size = columnar_inputs(body["inputs"], specs), None
    try:
        outputs = loaded.session.run({name: tensor.numpy() for name, tensor in tensors.items()}, signature_name,
                                     timeout=limits.request_deadline)
    except tf.errors.DeadlineExceededError:
        raise RequestError(504, f"Deadline exceeded: signature '{signature_name}' of version {loaded.version} "
                                f"ran longer than {limits.request_deadline:g} s and was cancelled") from None
    except (tf.errors.OpError, TypeError, ValueError) as error:
        message = error.message if isinstance(error, tf.errors.OpError) else str(error)
        raise RequestError(400, f"signature '{signature_name}' failed: {message}") from None
    encoded = {name: to_json(value, name) for name, value in outputs.items()}
    if batch_size is None:
        return {"outputs": next(iter(encoded.values())) if len(encoded) == 1 else encoded}
    for name, value in outputs.items():
        shape = list(getattr(value, "shape", ()))
        if not shape or shape[0] != batch_size:
            raise RequestError(400, f"output '{name}' has shape {shape}, not [{batch_size}, ...]: use the "
                                    "columnar format ('inputs')")
    if len(encoded) == 1:
        return {"predictions": next(iter(encoded.values()))}
    return {"predictions": [{name: values[index] for name, values in encoded.items()}
                            for index in range(batch_size)]}


def _check_batch_size(body: dict, limit: int) -> None:
    """400 when the instances (or the first dimension of an input) exceed `limit`, before any tensor is made."""
    if "instances" in body:
        values = [body["instances"]]
    else:
        inputs = body["inputs"]
        values = list(inputs.values()) if isinstance(inputs, dict) else [inputs]
    size = max((len(value) for value in values if isinstance(value, list)), default=0)
    if size > limit:
        raise RequestError(400, f"Task size {size} is larger than the maximum batch size {limit} "
                                "(tfhub-llm serve --max-batch-size)")


def model_metadata(model_name: str, loaded: LoadedVersion) -> dict:
    """GetModelMetadataResponse as TF Serving renders it: model_spec plus the SignatureDef map."""
    signature_map = get_model_metadata_pb2.SignatureDefMap(signature_def=loaded.signature_defs)
    return {
        "model_spec": {"name": model_name, "signature_name": "", "version": str(loaded.version)},
        "metadata": {"signature_def": json_format.MessageToDict(
            signature_map, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)},
    }
