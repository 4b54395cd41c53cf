"""training.splits: seeded splits by rows, by whole sentences of a phrase treebank, and by CoNLL document."""

import numpy as np
import pytest

from tfhub_llm.readers.conll import read_conll
from tfhub_llm.readers.text_examples import TextExamples, read_text_examples
from tfhub_llm.training.splits import split_by_document, split_examples

from tests.harness import FIXTURES

RTE_FORMAT = FIXTURES / "data" / "pairs_rte_format.tsv"


def test_split_examples_is_deterministic_and_disjoint():
    examples = read_text_examples(RTE_FORMAT, "sentence1", "label", text_b_column="sentence2")
    train, validation = split_examples(examples, 0.1, seed=3)
    assert len(validation) == round(0.1 * len(examples)) and len(train) + len(validation) == len(examples)
    pairs_of = lambda ex: list(zip(ex.texts, ex.texts_b, ex.labels.tolist()))
    assert sorted(pairs_of(train) + pairs_of(validation)) == sorted(pairs_of(examples))
    assert pairs_of(split_examples(examples, 0.1, seed=3)[1]) == pairs_of(validation)
    assert pairs_of(split_examples(examples, 0.1, seed=4)[1]) != pairs_of(validation)
    assert validation.label_names == examples.label_names
    with pytest.raises(ValueError, match="validation_fraction"):
        split_examples(examples, 1.0, seed=0)
    with pytest.raises(ValueError, match="both need at least one"):
        split_examples(TextExamples(["a", "b", "c"], None, None, None, "mem"), 0.1, seed=0)


def phrase_treebank(sentences):
    """Rows as SST-2 has them: every sentence, then every word span of it (a parse tree's phrases)."""
    rows = []
    for sentence in sentences:
        words = sentence.split()
        rows += [" ".join(words[start:end]) + " " for start in range(len(words))
                 for end in range(start + 1, len(words) + 1)]
    return TextExamples(texts=rows, texts_b=None, labels=np.arange(len(rows), dtype=np.int32) % 2,
                        label_names=None, path="treebank.tsv")


def test_sentence_split_holds_out_whole_sentences_and_drops_their_phrases():
    sentences = [f"film {i} was quite good" if i % 2 else f"plot {i} felt rather thin and slow" for i in range(20)]
    sentences.append("was quite good")  # a row that is a span of longer rows is no sentence of its own
    examples = phrase_treebank(sentences)
    train, held_out = split_examples(examples, 0.25, seed=1, by="sentences")
    normalised = lambda texts: {" ".join(text.split()) for text in texts}
    assert len(held_out) == 5 and normalised(held_out.texts) <= set(sentences[:20])
    held_out_spans = set().union(*(phrase_treebank([s]).texts for s in held_out.texts))
    assert not normalised(train.texts) & normalised(held_out_spans)
    kept = set(sentences[:20]) - normalised(held_out.texts)
    assert kept <= normalised(train.texts)  # the other sentences and their own phrases stay
    assert split_examples(examples, 0.25, seed=1, by="sentences")[1].texts == held_out.texts
    with pytest.raises(ValueError, match="whole sentences"):
        split_examples(phrase_treebank(["one"]), 0.5, seed=0, by="sentences")
    with pytest.raises(ValueError, match="by must be one of"):
        split_examples(examples, 0.25, seed=1, by="words")


def test_split_by_document_keeps_documents_whole(tmp_path):
    documents = "".join(f"-DOCSTART- O\n\nDoc{d} B-ORG\nsays O\n\nmore O\n\n" for d in range(10))
    (tmp_path / "docs.txt").write_text(documents)
    sentences = read_conll(tmp_path / "docs.txt")
    train, validation = split_by_document(sentences, 0.3, seed=0)
    assert len(train) == 14 and len(validation) == 6
    assert not set(train.documents) & set(validation.documents)
    assert train.documents == sorted(train.documents)  # file order kept
    assert split_by_document(sentences, 0.3, seed=0)[1].tokens == validation.tokens
    (tmp_path / "one.txt").write_text("Ada B-PER\n")
    with pytest.raises(ValueError, match=r"of the 1 documents of .*one.txt leaves 0 for validation"):
        split_by_document(read_conll(tmp_path / "one.txt"), 0.5, seed=0)
