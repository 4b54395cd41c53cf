"""Named-entity fine-tuning runs from CoNLL / JSONL files: what ``tfhub-llm finetune ner`` and ``evaluate ner`` call.

The run machinery is :mod:`tfhub_llm.training.run`'s (data checked before training, ``BackupAndRestore``
and ``--resume``, best checkpoint, early stopping, ``model.keras``, ``history.json``,
``metrics.json``); this module adds what is particular to tagging: a validation split by
document, and entity-level scores (:func:`tfhub_llm.tasks.entities.evaluate_entities`) next to
the capitalised-words baseline.
"""

import os

import keras

from tfhub_llm.errors import DataError
from tfhub_llm.layers.hub_layers import HubEncoder, HubPreprocessor
from tfhub_llm.readers.conll import TaggedSentences, read_tagged_sentences
from tfhub_llm.readers.tag_schemes import detect_tag_scheme
from tfhub_llm.tasks.entities import capitalised_baseline, entity_spans, evaluate_entities, most_frequent_type
from tfhub_llm.tasks.token_classification import TokenClassifier
from tfhub_llm.training.data_summary import summarize_tagged_sentences
from tfhub_llm.training.options import TOKEN_CLASSIFIER_TRAINING, TrainingOptions
from tfhub_llm.training.run import FinetuneResult, load_model_or_path, sample_split, start_run, train_on_features
from tfhub_llm.training.splits import split_by_document


def finetune_token_classifier(
    encoder: str | HubEncoder,
    preprocessor: str | HubPreprocessor,
    train_file: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    validation_file: str | os.PathLike | None = None,
    validation_fraction: float = 0.1,
    tag_scheme: str | None = None,
    max_seq_length: int = 128,
    doc_stride: int = 64,
    options: TrainingOptions = TOKEN_CLASSIFIER_TRAINING,
) -> FinetuneResult:
    """Fine-tunes a :class:`TokenClassifier` on a CoNLL or JSONL file and saves it under ``out_dir``.

    Without ``validation_file``, a seeded ``validation_fraction`` of the documents (``-DOCSTART-``
    boundaries; each JSONL line is a document) is held out whole. The labels are the tags of
    ``train_file``; the scheme is ``tag_scheme`` or the one its tags follow. ``options.max_*_examples``
    sample sentences. ``metrics.json`` adds entity precision / recall / F1 on the validation
    sentences and those of the capitalised-words baseline (tagging the training data's most
    frequent entity type).
    """
    sentences = read_tagged_sentences(train_file)
    label_names = sentences.label_names()
    if validation_file:
        train, validation = sentences, read_tagged_sentences(validation_file, label_names=label_names)
    else:
        train, validation = split_by_document(sentences, validation_fraction, options.seed)
    train, validation = sample_split(train, validation, options)
    if not any(entity_spans(tags) for tags in train.tags):
        raise DataError(train_file, None, "tag", "the training sentences hold no entity (every tag is O): nothing to learn")
    baseline_type = most_frequent_type(train.tags)
    start_run(out_dir, options)
    model = TokenClassifier(encoder, preprocessor, label_names, tag_scheme=tag_scheme or detect_tag_scheme(sentences.tags),
                            max_seq_length=max_seq_length, doc_stride=doc_stride)
    if options.verbose:
        split = (f"validation from {validation_file}" if validation_file
                 else f"{validation_fraction:.0%} of the documents held out")
        print(summarize_tagged_sentences(train, validation, model.preprocessor, split, max_seq_length=max_seq_length),
              flush=True)
    return train_on_features(model, train, validation, out_dir, options, evaluate=lambda model: evaluate_token_classifier(
        model, validation, batch_size=options.batch_size, baseline_type=baseline_type))


def evaluate_token_classifier(model: keras.Model | str | os.PathLike, data: str | os.PathLike | TaggedSentences, *,
                              batch_size: int = 32, baseline_type: str | None = None) -> dict:
    """Entity precision / recall / F1 (x100, micro and per type) of a model (or ``.keras`` path) on tagged data.

    ``data`` is a CoNLL / JSONL path or :class:`TaggedSentences`; its tags must be among the model's
    labels. With ``baseline_type``, also the scores of the capitalised-words baseline tagging that type.
    """
    model = load_model_or_path(model, TokenClassifier)
    sentences = data if isinstance(data, TaggedSentences) else read_tagged_sentences(data, label_names=model.label_names)
    scores = evaluate_entities(sentences.tags, model.predict_tags(sentences.tokens, batch_size=batch_size))
    metrics = {"sentences": len(sentences), **{f"entity_{key}": value for key, value in scores.items()}}
    if baseline_type is not None:
        baseline = evaluate_entities(sentences.tags, capitalised_baseline(sentences.tokens, baseline_type))
        metrics.update({"baseline_type": baseline_type, "baseline_entity_precision": baseline["precision"],
                        "baseline_entity_recall": baseline["recall"], "baseline_entity_f1": baseline["f1"]})
    return metrics
