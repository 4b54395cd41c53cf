"""The batch tests' exports: one TF Serving export per task kind from the tiny BERT, built once per session.

Skipped without Apache Beam (the ``beam`` extra, which ``make test`` installs).
"""

import numpy as np
import pytest

pytest.importorskip("apache_beam", reason="the beam extra is not installed")

from tests.harness import TINY_ENCODER, TINY_PREPROCESSOR  # noqa: E402

LABELS = ["negative", "neutral", "positive"]
ENTITY_LABELS = ["O", "B-LOC", "B-ORG", "B-PER", "I-PER"]
# The export inputs of each kind and the rows the tests score (a long one spans several QA / entity windows).
LONG = " ".join(["Ada Lovelace visited Zürich and wrote notes on the engine."] * 6)
ROWS = {
    "text": ["fine", "Café crème!", LONG, "a much longer sentence, which keeps going well past the first",
             "🎤 東京 Beyoncé, Zürich!", "Grace Hopper joined the Navy."],
    "text_b": ["A cat was sitting.", "It rained all day long.", "short", "Profits rose.", "Zürich", LONG],
    "question": ["Who wrote notes?", "Where is the café?", "what?", "Who joined?", "Is there one?", "When?"],
}
ROWS["context"] = ROWS["text"]
KIND_INPUTS = {"classifier": ("text",), "pairs": ("text", "text_b"), "qa": ("question", "context"),
               "entities": ("text",), "embedder": ("text",)}


def _randomize(model, layer, seed, scale):
    rng = np.random.default_rng(seed)
    for weight in model.get_layer(layer).weights:
        weight.assign(rng.normal(0, scale, weight.shape).astype("float32"))


def _model(kind):
    from tfhub_llm.tasks.classifier import TextClassifier
    from tfhub_llm.tasks.embedding import TextEmbedder
    from tfhub_llm.tasks.question_answering import SpanQuestionAnswerer
    from tfhub_llm.tasks.token_classification import TokenClassifier

    if kind in ("classifier", "pairs"):
        model = TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, num_classes=3, label_names=LABELS,
                               text_pair=kind == "pairs")
        _randomize(model, "probabilities", 0, 3)
    elif kind == "qa":
        model = SpanQuestionAnswerer(TINY_ENCODER, TINY_PREPROCESSOR, max_seq_length=32, doc_stride=8,
                                     max_query_length=8)
        _randomize(model, "span_logits", 3, 2)
    elif kind == "entities":
        model = TokenClassifier(TINY_ENCODER, TINY_PREPROCESSOR, ENTITY_LABELS, max_seq_length=16, doc_stride=6)
        _randomize(model, model.layers[-1].name, 5, 3)
    else:
        model = TextEmbedder(TINY_ENCODER, TINY_PREPROCESSOR)
    return model


@pytest.fixture(scope="session")
def serving_export(tmp_path_factory):
    """``serving_export(kind)``: the path of that kind's export (classifier, pairs, qa, entities, embedder)."""
    from tfhub_llm.tf_serving import export_for_serving

    built = {}

    def export(kind):
        if kind not in built:
            built[kind] = export_for_serving(_model(kind), tmp_path_factory.mktemp("served") / kind)
        return built[kind]

    return export
