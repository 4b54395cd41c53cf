"""``serve`` (the development server with TF Serving's REST API) and ``predict`` (its REST client)."""

import sys

from tfhub_llm.cli.options import POSITIVE_FLOAT, POSITIVE_INT, add_trust, command_parser, print_json
from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.ascii_digits import is_ascii_digits

_LIMIT_FLAGS = ("max_body_bytes", "read_timeout", "max_batch_size", "max_workers", "request_deadline")


def add_commands(commands):
    serve = command_parser(commands, "serve", "development server with TF Serving's REST API over BASE_DIR",
                           "tfhub-llm serve serving/sst2 --port 8501")
    serve.add_argument("base_dir")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--model-name", help="default: BASE_DIR's last folder")
    add_trust(serve, "every version")
    serve.add_argument("--grace-period", type=float, default=5.0, metavar="SECONDS",
                       help="on Ctrl-C / SIGTERM, how long requests in flight may finish (a second signal quits at once)")
    serve.add_argument("--default-threads", action="store_true",
                       help="keep TensorFlow's thread pools (default: the setting chosen for this CPU, printed at "
                            "start: one thread per op with the micro-batches side by side where that was measured "
                            "faster, else TensorFlow's)")
    serve.add_argument("--version-policy", default="latest", metavar="POLICY",
                       help="versions to serve, as TF Serving's model_version_policy: latest (default), latest:N, "
                            "all, or specific:V1,V2")
    serve.add_argument("--label", action="append", default=[], metavar="LABEL=VERSION",
                       help="a version label, served at /v1/models/NAME/labels/LABEL (repeatable)")
    serve.add_argument("--poll-interval", type=float, default=1.0, metavar="SECONDS",
                       help="how often BASE_DIR is looked at for new versions")
    # Request limits (tfhub_llm.tf_serving.limits.ServerLimits, whose defaults apply when a flag is not given).
    serve.add_argument("--max-body-bytes", type=int, help="larger request bodies get 413 (default 8 MiB)")
    serve.add_argument("--read-timeout", type=float, metavar="SECONDS",
                       help="time to send a request's headers and body, else 408 (default 30)")
    serve.add_argument("--max-batch-size", type=int, help="instances per request, above: 400 (default 1024)")
    serve.add_argument("--max-workers", type=int,
                       help="requests handled at once; more connections wait in the accept queue (default 8)")
    serve.add_argument("--request-deadline", type=float, metavar="SECONDS",
                       help="time a model call may run before TensorFlow cancels it: 504 (default 60)")
    serve.set_defaults(run=run_serve)

    predict = command_parser(commands, "predict", "send texts to a TF Serving REST endpoint",
                             "tfhub-llm predict --server http://127.0.0.1:8501 --model sst2 'a gripping film'")
    predict.add_argument("texts", nargs="+", metavar="TEXT")
    predict.add_argument("--server", required=True, help="e.g. http://127.0.0.1:8501")
    predict.add_argument("--model", required=True)
    predict.add_argument("--version", type=POSITIVE_INT)
    predict.add_argument("--signature")
    predict.add_argument("--columnar", action="store_true", help='send {"inputs": ...} instead of {"instances": ...}')
    predict.add_argument("--timeout", type=POSITIVE_FLOAT, default=30)
    predict.set_defaults(run=run_predict)


def run_serve(args):
    from tfhub_llm.cpu_threads import describe_choice, use_inference_threads
    from tfhub_llm.tf_serving.limits import ServerLimits
    from tfhub_llm.tf_serving.server import serve
    from tfhub_llm.tf_serving.versions import VersionPolicy

    if not args.default_threads:
        try:
            print(describe_choice(use_inference_threads()), file=sys.stderr)
        except InvalidArgumentError as error:  # main() called from a Python process where TensorFlow already runs
            print(f"note: keeping TensorFlow's thread pools: {error}", file=sys.stderr)
    limits = ServerLimits(**{field: getattr(args, field) for field in _LIMIT_FLAGS if getattr(args, field) is not None})
    serve(args.base_dir, args.host, args.port, args.model_name, trust=args.trust, grace_period=args.grace_period,
          policy=VersionPolicy.parse(args.version_policy), labels=parse_labels(args.label), limits=limits,
          poll_interval=args.poll_interval)


def parse_labels(items: list[str]) -> dict[str, int]:
    """{label: version} from ``--label LABEL=VERSION`` options."""
    labels = {}
    for item in items:
        label, _, version = item.partition("=")
        if not label or not is_ascii_digits(version):
            raise InvalidArgumentError(f"--label {item!r}: expected LABEL=VERSION, e.g. stable=1")
        labels[label] = int(version)
    return labels


def run_predict(args):
    from tfhub_llm.tf_serving.client import predict_texts

    print_json(predict_texts(args.server, args.model, args.texts, version=args.version, signature=args.signature,
                             columnar=args.columnar, timeout=args.timeout))
