"""``serve`` (the development server with TF Serving's REST API) and ``predict`` (its REST client)."""

import sys

from tfhub_llm.cli.options import POSITIVE_FLOAT, POSITIVE_INT, add_trust, command_parser, print_json
from tfhub_llm.errors import InvalidArgumentError


def add_commands(commands):
    serve = command_parser(commands, "serve", "development server with TF Serving's REST API over BASE_DIR",
                           "tfhub-llm serve serving/sst2 --port 8501")
    serve.add_argument("base_dir")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--model-name", help="default: BASE_DIR's last folder")
    add_trust(serve, "every version")
    serve.add_argument("--default-threads", action="store_true",
                       help="keep TensorFlow's thread pools (default: one thread per op, micro-batches side by side)")
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
    from tfhub_llm.cpu_threads import use_inference_threads
    from tfhub_llm.tf_serving.server import serve

    if not args.default_threads:
        try:
            use_inference_threads()
        except InvalidArgumentError as error:  # main() called from a Python process where TensorFlow already runs
            print(f"note: keeping TensorFlow's thread pools: {error}", file=sys.stderr)
    serve(args.base_dir, args.host, args.port, args.model_name, trust=args.trust)


def run_predict(args):
    from tfhub_llm.tf_serving.client import predict_texts

    print_json(predict_texts(args.server, args.model, args.texts, version=args.version, signature=args.signature,
                             columnar=args.columnar, timeout=args.timeout))
