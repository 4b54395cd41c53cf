"""The peers of the benchmark, as worker processes inside ``.bench-venv``: torch, ONNX Runtime, KerasHub.

    .bench-venv/bin/python bench/peers.py {torch,onnx,kerashub} WORKLOAD.json MINILM_DIR

All start from the Hugging Face folder of all-MiniLM-L6-v2 (``MINILM_DIR``, nothing downloaded)
with a fresh 2-class head (seeded: ``torch.manual_seed(0)``, so the torch and ONNX workers hold the
same head), and take strings in and give probabilities out, tokenization included:
  * ``torch``: transformers' ``BertTokenizerFast`` + ``BertForSequenceClassification``, padding to
    each batch's longest input (at most 128), ``torch.no_grad``, 2 threads; in float32 and under
    ``torch.autocast("cpu", dtype=torch.bfloat16)``; plus a plain AdamW loop for ``fit``.
  * ``onnx``: the same model exported to ONNX (``bench/peers_onnx.py``), four ONNX Runtime variants.
  * ``kerashub``: KerasHub's ``BertTextClassifier`` with its own preprocessor at sequence_length 128.
Every torch and ONNX variant also runs with ``SORTED_PARTS`` length-sorted sub-batches (suffix
``_sorted4``): each batch is sorted by token count, cut into 4 sub-batches padded to their own
longest, and the outputs are put back in order, the trick our ``HubEncoder`` uses. The ONNX
variants also run those sub-batches side by side, one thread per op (suffix ``_parallel4``), as
ours do under ``use_inference_threads()``.
"""

import argparse
import concurrent.futures
import contextlib
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import workload as wl  # noqa: E402

LEARNING_RATE = 3e-5
WEIGHT_DECAY = 0.01
THREADS = 2
SORTED_PARTS = 4
SEED = 0


def sorted_name(name):
    return f"{name}_sorted{SORTED_PARTS}"


class Tokens:
    """The Hugging Face fast tokenizer, cut at 128 pieces; padding per batch or per sorted sub-batch."""

    def __init__(self, minilm_dir, tensor_type):
        import transformers

        self.tokenizer = transformers.BertTokenizerFast.from_pretrained(minilm_dir)
        self.tensor_type = tensor_type

    def batches(self, texts, parts=None):
        """``(row indices, padded inputs)`` pairs: the whole batch, or ``parts`` length-sorted sub-batches."""
        encoded = self.tokenizer(texts, truncation=True, max_length=wl.SEQ_LENGTH)
        groups = [list(range(len(texts)))] if parts is None else \
            wl.sub_batches([len(ids) for ids in encoded["input_ids"]], parts)
        for group in groups:
            rows = {key: [values[index] for index in group] for key, values in encoded.items()}
            yield group, self.tokenizer.pad(rows, padding="longest", return_tensors=self.tensor_type)


class TokenizedClassifier(wl.MeasuredSystem):
    """``predict`` over ``Tokens`` and a ``probabilities_of(inputs)`` -> numpy rows function; with ``side_by_side``,
    the ``parts`` sub-batches run at once on that many threads."""

    def __init__(self, tokens, probabilities_of, parts=None, details=None, side_by_side=False):
        self.tokens, self.probabilities_of, self.parts = tokens, probabilities_of, parts
        self.details = details or {}
        self.pool = concurrent.futures.ThreadPoolExecutor(parts) if side_by_side else None

    def predict(self, texts):
        groups, inputs = zip(*self.tokens.batches(texts, self.parts))
        outputs = list((self.pool.map if self.pool else map)(self.probabilities_of, inputs))
        return outputs[0] if self.parts is None else wl.in_input_order(groups, outputs)


def seeded_classifier(minilm_dir, **options):
    """``BertForSequenceClassification`` over MiniLM with a fresh, seeded 2-class head."""
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    torch.manual_seed(SEED)
    return transformers.BertForSequenceClassification.from_pretrained(minilm_dir, num_labels=2, **options)


class TorchTrainer(wl.MeasuredSystem):
    """A plain AdamW training loop over ``BertForSequenceClassification`` in float32."""

    trains = True

    def __init__(self, minilm_dir, tokens):
        import torch

        self.torch, self.tokens = torch, tokens
        self.model = seeded_classifier(minilm_dir).train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)

    def fit(self, batches, labels):
        for texts, batch_labels in zip(batches, labels, strict=True):
            (_, inputs), = self.tokens.batches(texts)
            loss = self.model(**inputs, labels=self.torch.tensor(batch_labels)).loss
            loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad()


def torch_systems(minilm_dir):
    """torch float32 and bfloat16-autocast inference, plain and sorted, and the float32 trainer."""
    import torch

    torch.set_num_threads(THREADS)
    tokens = Tokens(minilm_dir, "pt")
    model = seeded_classifier(minilm_dir).eval()

    def probabilities(precision):
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()

        def probabilities_of(inputs):
            with torch.no_grad(), autocast:
                return model(**inputs).logits.float().softmax(-1).numpy()
        return probabilities_of

    systems = {"torch_fp32_fit": TorchTrainer(minilm_dir, tokens)}
    for precision in ("fp32", "bf16"):
        systems[f"torch_{precision}"] = TokenizedClassifier(tokens, probabilities(precision))
        systems[sorted_name(f"torch_{precision}")] = TokenizedClassifier(tokens, probabilities(precision),
                                                                         SORTED_PARTS)
    return systems


def kerashub_classifier(minilm_dir):
    """KerasHub's BERT classifier with its own preprocessor, MiniLM-shaped, at sequence_length 128, compiled."""
    import keras
    import keras_hub

    tokenizer = keras_hub.models.BertTokenizer(vocabulary=str(pathlib.Path(minilm_dir) / "vocab.txt"), lowercase=True)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=wl.SEQ_LENGTH)
    backbone = keras_hub.models.BertBackbone(vocabulary_size=30522, num_layers=6, num_heads=12,
                                             hidden_dim=384, intermediate_dim=1536)
    model = keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=preprocessor,
                                                activation="softmax")
    model.compile(optimizer=keras.optimizers.AdamW(LEARNING_RATE, weight_decay=WEIGHT_DECAY),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class KerasHubClassifier(wl.MeasuredSystem):
    """``predict_on_batch`` of strings, or ``fit`` on a ``tf.data`` batch of strings and labels."""

    def __init__(self, model, trains):
        import tensorflow as tf

        self.tf, self.model, self.trains = tf, model, trains

    def predict(self, texts):
        return self.model.predict_on_batch(self.tf.constant(texts))

    def fit(self, batches, labels):
        labelled = self.tf.data.Dataset.from_tensor_slices((wl.flat(batches), wl.flat(labels)))
        self.model.fit(labelled.batch(len(batches[0])), epochs=1, verbose=0)


def kerashub_systems(minilm_dir):
    """Inference and ``fit`` over one KerasHub model (no equality check needs it untrained)."""
    model = kerashub_classifier(minilm_dir)
    return {"kerashub": KerasHubClassifier(model, trains=False), "kerashub_fit": KerasHubClassifier(model, trains=True)}


def onnx_systems(minilm_dir):
    import peers_onnx

    tokens = Tokens(minilm_dir, "np")
    systems = {}
    # Eager attention: the BERT optimizer's fusions look for its pattern, not SDPA's.
    model = seeded_classifier(minilm_dir, attn_implementation="eager")
    for name, (probabilities_of, one_thread, details) in peers_onnx.variants(model, THREADS).items():
        systems[name] = TokenizedClassifier(tokens, probabilities_of, details=details)
        systems[sorted_name(name)] = TokenizedClassifier(tokens, probabilities_of, SORTED_PARTS, details)
        systems[f"{name}_parallel{SORTED_PARTS}"] = TokenizedClassifier(tokens, one_thread, SORTED_PARTS, details,
                                                                        side_by_side=True)
    return systems


WORKERS = {"torch": torch_systems, "onnx": onnx_systems, "kerashub": kerashub_systems}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("worker", choices=sorted(WORKERS))
    parser.add_argument("workload")
    parser.add_argument("minilm_dir")
    args = parser.parse_args()
    wl.run_worker(args.workload, lambda: WORKERS[args.worker](args.minilm_dir))


if __name__ == "__main__":
    main()
