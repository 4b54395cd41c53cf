"""``check_serving``: will this export load and answer in a given TF Serving release?

It loads the export as TF Serving's model server does: a TF1 ``Session`` and
``tf.compat.v1.saved_model.loader.load(sess, ["serve"], dir)``, the SignatureDef looked up by
name, inputs fed and outputs fetched by tensor name. It replays every warmup request of
``assets.extra/tf_serving_warmup_requests``, and lists every op type of the graph (function
library included) that the release's model server lacks: core TensorFlow of that release plus
the TF Text it bundles (:mod:`tfhub_llm.op_lists.tf_serving_releases`). Such an op fails there with "Op type not registered".
"""

import contextlib
import dataclasses
import pathlib

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the TF Text ops the exports use, as the model server links them)

from tfhub_llm.errors import InvalidArgumentError, TfhubLlmError
from tfhub_llm.escaping import printable_lines
from tfhub_llm.hub.security import UntrustedModelError, saved_model_op_names, scanned_for_load
from tfhub_llm.hub_contract import SERVING_SIGNATURE
from tfhub_llm.tf_serving.export import WARMUP_FILE, read_warmup_requests
from tfhub_llm.op_lists.tf_serving_releases import DEFAULT_TF_SERVING_VERSION, tf_serving_ops


class UnknownSignatureError(TfhubLlmError, KeyError):
    """The export has no SignatureDef of the requested name."""


@dataclasses.dataclass
class RequestResult:
    """One replayed request: its inputs, and the outputs or the error it gave."""

    index: int
    signature_name: str
    inputs: dict
    outputs: dict = None
    error: str = None


@dataclasses.dataclass
class ServingCheckReport:
    """What ``check_serving`` found: ops the model server lacks, and how the warmup requests went."""

    export_dir: str
    tf_serving_version: str
    missing_ops: list
    requests: list
    error: str = None  # the export did not load, or its warmup file did not parse

    @property
    def failed_requests(self):
        return [request for request in self.requests if request.error is not None]

    @property
    def ok(self):
        """True when every op is available, the export loads, and there was a request and none failed."""
        return not self.missing_ops and self.error is None and bool(self.requests) and not self.failed_requests

    def format(self):
        """A human-readable summary, one finding per line."""
        lines = [f"{self.export_dir} against TF Serving {self.tf_serving_version}: {'OK' if self.ok else 'FAILED'}"]
        if self.missing_ops:
            lines.append(f"  ops the model server lacks ({len(self.missing_ops)}; \"Op type not registered\" there):")
            lines += [f"    {op}" for op in self.missing_ops]
        else:
            lines.append("  every op is registered in that model server")
        if self.error:
            lines.append(f"  loading in a TF1 session or reading the warmup requests failed: {self.error}")
        elif not self.requests:
            lines.append(f"  no warmup requests to replay in {WARMUP_FILE}")
        else:
            failed = self.failed_requests
            lines.append(f"  warmup requests replayed: {len(self.requests)}, failed: {len(failed)}")
            lines += [f"    request {r.index} ({r.signature_name}): {r.error}" for r in failed]
        return printable_lines("\n".join(lines))


@contextlib.contextmanager
def _quiet_deprecation():
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)


class ServingSession:
    """An export loaded as TF Serving loads it: a TF1 session over the "serve" MetaGraph (scanned unless ``trust``).

    With ``read_warmup``, ``warmup_requests`` holds the export's warmup requests, read (capped) from the
    scanned copy.
    """

    def __init__(self, export_dir, *, trust=False, read_warmup=False):
        self.export_dir = str(export_dir)
        self.warmup_requests = []
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        try:
            # The TF1 loader is what TF Serving uses; it restores and initializes everything into the
            # session, so the scanned copy is not needed once it returns.
            with scanned_for_load(self.export_dir, trust=trust) as load_dir:
                with self.graph.as_default(), _quiet_deprecation():
                    self.meta_graph = tf.compat.v1.saved_model.loader.load(
                        self.session, [tf.saved_model.SERVING], load_dir)
                # Read from the scanned copy, with caps: what was scanned is what is replayed.
                warmup = pathlib.Path(load_dir) / WARMUP_FILE
                if read_warmup and warmup.is_file():
                    self.warmup_requests = read_warmup_requests(warmup)
        except BaseException:
            self.session.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.session.close()

    @property
    def function_names(self):
        """Names of the graph's library functions (nodes may name them as their op)."""
        return {function.signature.name for function in self.meta_graph.graph_def.library.function}

    def run(self, inputs, signature_name=SERVING_SIGNATURE, timeout=None):
        """Feeds ``inputs`` (``{input name: array}``) to the SignatureDef by tensor name; returns its outputs.

        With ``timeout`` (seconds) the step is cancelled once it runs that long, as TF Serving applies a
        request's deadline (``RunOptions.timeout_in_ms``): it raises ``tf.errors.DeadlineExceededError``.
        """
        signatures = self.meta_graph.signature_def
        if signature_name not in signatures:
            raise UnknownSignatureError(f"{self.export_dir} has no signature {signature_name!r}; it has {sorted(signatures)}")
        signature = signatures[signature_name]
        if set(inputs) != set(signature.inputs):
            raise InvalidArgumentError(f"signature {signature_name!r} takes inputs {sorted(signature.inputs)}, "
                             f"got {sorted(inputs)}")
        feeds = {signature.inputs[name].name: value for name, value in inputs.items()}
        fetches = {name: output.name for name, output in signature.outputs.items()}
        options = None if timeout is None else tf.compat.v1.RunOptions(timeout_in_ms=max(1, round(timeout * 1000)))
        return self.session.run(fetches, feed_dict=feeds, options=options)


def session_predict(export_dir, inputs, signature_name=SERVING_SIGNATURE):
    """The outputs of ``export_dir``'s signature on ``inputs``, computed in a TF1 session as TF Serving does."""
    with ServingSession(export_dir) as session:
        return session.run({name: np.asarray(value, dtype=object) for name, value in inputs.items()},
                           signature_name)


def compare_session_outputs(export_dir, inputs, expected, atol=1e-5, signature_name=SERVING_SIGNATURE):
    """Differences between the TF1-session outputs and ``expected`` (``{output name: array}``); [] if none."""
    actual = session_predict(export_dir, inputs, signature_name)
    differences = []
    for name, want in expected.items():
        if name not in actual:
            differences.append(f"output {name!r} is missing; the signature has {sorted(actual)}")
            continue
        got, want = np.asarray(actual[name]), np.asarray(want)
        if got.shape != want.shape:
            differences.append(f"output {name!r} has shape {got.shape}, expected {want.shape}")
        elif got.dtype.kind in "fc" or want.dtype.kind in "fc":
            gap = float(np.max(np.abs(got - want), initial=0.0))
            if gap > atol:
                differences.append(f"output {name!r} differs by up to {gap:.3g} (> {atol})")
        elif not np.array_equal(got, want.astype(got.dtype) if got.dtype.kind in "iub" else want):
            differences.append(f"output {name!r} is {got.tolist()}, expected {want.tolist()}")
    return differences


def check_serving(export_dir, tf_serving_version=DEFAULT_TF_SERVING_VERSION, *, trust=False):
    """Checks that ``export_dir`` loads and answers in TF Serving ``tf_serving_version``; returns a report.

    Raises ``UntrustedModelError`` before anything of the export runs unless it passes the scan or ``trust``.
    """
    export_dir = str(export_dir)
    available = tf_serving_ops(tf_serving_version)
    op_names = saved_model_op_names(export_dir)
    requests, error, function_names = [], None, set()
    try:
        with ServingSession(export_dir, trust=trust, read_warmup=True) as session:
            function_names = session.function_names
            requests = _replay_warmup(session)
    except UntrustedModelError:
        raise
    except (tf.errors.OpError, RuntimeError, ValueError, OSError) as failure:  # InvalidFileError is a ValueError
        error = f"{type(failure).__name__}: {failure}"
    return ServingCheckReport(
        export_dir=export_dir,
        tf_serving_version=str(tf_serving_version),
        missing_ops=sorted(op_names - available - function_names),
        requests=requests,
        error=error,
    )


def _replay_warmup(session):
    results = []
    for index, log in enumerate(session.warmup_requests):
        request = log.predict_log.request
        signature_name = request.model_spec.signature_name or SERVING_SIGNATURE
        inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
        result = RequestResult(index=index, signature_name=signature_name, inputs=inputs)
        try:
            result.outputs = session.run(inputs, signature_name)
        except (tf.errors.OpError, KeyError, ValueError) as error:
            result.error = f"{type(error).__name__}: {error}"
        results.append(result)
    return results
