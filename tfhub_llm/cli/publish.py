"""``publish``: a SavedModel as HUB_DIR/NAME/VERSION (+ sha256, model card from the flags, optional Kaggle upload)."""

import argparse

from tfhub_llm.cli.options import POSITIVE_INT, add_trust, command_parser


def add_commands(commands):
    publish = command_parser(commands, "publish", "publish a SavedModel as HUB_DIR/NAME/VERSION (+ sha256, card)",
                             "tfhub-llm publish runs/hub/encoder hub --name sst2-encoder --version 1 "
                             "--summary 'MiniLM fine-tuned on SST-2'")
    publish.add_argument("saved_model_dir")
    publish.add_argument("hub_dir")
    publish.add_argument("--name", required=True)
    publish.add_argument("--version", required=True, type=POSITIVE_INT)
    publish.add_argument("--kaggle", metavar="OWNER/MODEL/tensorFlow2/VARIATION", help="also upload to Kaggle")
    publish.add_argument("--summary", default="", help="model card: what the model is")
    publish.add_argument("--training-data", action="append", default=[], metavar="TEXT")
    publish.add_argument("--eval", action="append", default=[], type=_metric, metavar="METRIC=VALUE")
    publish.add_argument("--limitations", default="")
    publish.add_argument("--base-model", default="", metavar="HANDLE")
    publish.add_argument("--hub-url", default="", help="where HUB_DIR is served, for the card's usage lines")
    publish.add_argument("--license", default="Apache 2.0")
    add_trust(publish)
    publish.set_defaults(run=run_publish)


def _metric(text):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected METRIC=VALUE, got {text!r}")
    return tuple(text.split("=", 1))


def run_publish(args):
    from tfhub_llm.publishing.hub_dir import ModelCard, publish

    card = ModelCard(
        summary=args.summary,
        training_data=args.training_data,
        evaluation=dict(args.eval),
        limitations=args.limitations,
        base_model=args.base_model,
        hub_url=args.hub_url,
        license_name=args.license,
    )
    published = publish(args.saved_model_dir, args.hub_dir, args.name, args.version, model_card=card, kaggle=args.kaggle,
                        trust=args.trust)
    print(f"{published.archive}\nsha256 {published.sha256}\nmodel card {published.model_card}")
