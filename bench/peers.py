"""The peers of the benchmark, each a worker process inside ``.bench-venv``: KerasHub and Hugging Face.

    .bench-venv/bin/python bench/peers.py {kerashub,huggingface} WORKLOAD.json MINILM_DIR

Both use MiniLM-L6-H384's shape and vocabulary (``MINILM_DIR`` is the Hugging Face folder of
all-MiniLM-L6-v2) with a fresh 2-class head, fp32, nothing downloaded:
  * KerasHub: ``BertTextClassifier`` (softmax output) with its ``BertTextClassifierPreprocessor`` at
    sequence_length 128, backbone randomly initialised with MiniLM's shape; ``predict`` / ``fit`` on
    ``tf.data`` batches, AdamW.
  * Hugging Face: ``BertTokenizerFast`` + ``BertForSequenceClassification`` from the folder, padding
    to each batch's longest input (at most 128), ``torch.no_grad`` for inference, 2 torch threads,
    a plain AdamW training loop.
Phases (see ``workload.py``): ``warmup``, ``infer_sst2``, ``infer_squad``, ``train``, and for
Hugging Face ``peak`` (torch's own matmul rate, to tell the library's overhead from its BLAS).
"""

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import workload as wl  # noqa: E402

LEARNING_RATE = 3e-5
WEIGHT_DECAY = 0.01


class KerasHubClassifier:
    """KerasHub's BERT classifier with its own preprocessor, MiniLM-shaped, at sequence_length 128."""

    def __init__(self, minilm_dir):
        import keras
        import keras_hub

        self._tf = __import__("tensorflow")
        tokenizer = keras_hub.models.BertTokenizer(vocabulary=str(pathlib.Path(minilm_dir) / "vocab.txt"),
                                                   lowercase=True)
        preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=wl.SEQ_LENGTH)
        backbone = keras_hub.models.BertBackbone(vocabulary_size=30522, num_layers=6, num_heads=12,
                                                 hidden_dim=384, intermediate_dim=1536)
        self.model = keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=preprocessor,
                                                         activation="softmax")
        self.model.compile(optimizer=keras.optimizers.AdamW(LEARNING_RATE, weight_decay=WEIGHT_DECAY),
                           loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    def _texts(self, batches):
        return self._tf.data.Dataset.from_tensor_slices(wl.flat(batches)).batch(len(batches[0]))

    def _infer(self, batches):
        self.model.predict(self._texts(batches), verbose=0)

    def _fit(self, batches, labels):
        labelled = self._tf.data.Dataset.from_tensor_slices((wl.flat(batches), wl.flat(labels)))
        self.model.fit(labelled.batch(len(batches[0])), epochs=1, verbose=0)

    def warmup(self, workload):
        self._infer(workload["warmup"])
        self._fit(workload["warmup"][:len(workload["warmup_labels"])], workload["warmup_labels"])

    def infer_sst2(self, workload):
        self._infer(workload["sst2"])

    def infer_squad(self, workload):
        self._infer(workload["squad"])

    def train(self, workload):
        self._fit(workload["train"], workload["train_labels"])


class HuggingFaceClassifier:
    """transformers' BertForSequenceClassification on MiniLM with its fast tokenizer, padding to the longest."""

    def __init__(self, minilm_dir):
        import torch
        import transformers

        transformers.logging.set_verbosity_error()
        torch.set_num_threads(2)
        self.torch = torch
        self.tokenizer = transformers.BertTokenizerFast.from_pretrained(minilm_dir)
        self.model = transformers.BertForSequenceClassification.from_pretrained(
            minilm_dir, num_labels=2, torch_dtype=torch.float32)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)

    def _encode(self, texts):
        return self.tokenizer(texts, padding="longest", truncation=True, max_length=wl.SEQ_LENGTH,
                              return_tensors="pt")

    def _infer(self, batches):
        self.model.eval()
        with self.torch.no_grad():
            for texts in batches:
                self.model(**self._encode(texts)).logits.softmax(-1).numpy()

    def _fit(self, batches, labels):
        self.model.train()
        for texts, batch_labels in zip(batches, labels):
            loss = self.model(**self._encode(texts), labels=self.torch.tensor(batch_labels)).loss
            loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad()

    def warmup(self, workload):
        self._infer(workload["warmup"])
        self._fit(workload["warmup"], workload["warmup_labels"])

    def peak(self, workload, repeats=5):
        """torch's best float32 matmul rate on this CPU (2048 x 2048 x 2048), in GFLOP/s."""
        import time

        a, b = self.torch.randn(2048, 2048), self.torch.randn(2048, 2048)
        a @ b
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - start)
        return {"fp32_gflops": 2 * 2048 ** 3 / best / 1e9}

    def infer_sst2(self, workload):
        self._infer(workload["sst2"])

    def infer_squad(self, workload):
        self._infer(workload["squad"])

    def train(self, workload):
        self._fit(workload["train"], workload["train_labels"])


PEERS = {"kerashub": KerasHubClassifier, "huggingface": HuggingFaceClassifier}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("peer", choices=sorted(PEERS))
    parser.add_argument("workload")
    parser.add_argument("minilm_dir")
    args = parser.parse_args()
    wl.run_worker(args.workload, lambda: PEERS[args.peer](args.minilm_dir), args.peer)


if __name__ == "__main__":
    main()
