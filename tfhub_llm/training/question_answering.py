"""Extractive question answering runs from SQuAD JSON: ``tfhub-llm finetune qa`` and ``evaluate qa``.

The run is :mod:`tfhub_llm.training.run`'s; this module holds out whole articles (no validation
question shares a context with a training question) and adds SQuAD EM / F1, and those of the
first-sentence baseline, to ``metrics.json``.
"""

import os

import keras

from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.layers.hub_layers import HubEncoder, HubPreprocessor
from tfhub_llm.tasks.question_answering import SpanQuestionAnswerer
from tfhub_llm.readers.squad import load_squad_json, read_squad
from tfhub_llm.tasks.squad import first_sentence_baseline, squad_evaluate
from tfhub_llm.training.data_summary import summarize_questions
from tfhub_llm.training.options import QUESTION_ANSWERING_TRAINING, TrainingOptions
from tfhub_llm.training.run import FinetuneResult, load_model_or_path, sample_split, start_run, train_on_features


def finetune_question_answering(
    encoder: str | HubEncoder,
    preprocessor: str | HubPreprocessor,
    train_file: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    validation_file: str | os.PathLike | None = None,
    validation_articles: int = 1,
    max_seq_length: int | None = None,
    doc_stride: int = 128,
    max_query_length: int | None = None,
    options: TrainingOptions = QUESTION_ANSWERING_TRAINING,
) -> FinetuneResult:
    """Fine-tunes a :class:`SpanQuestionAnswerer` on SQuAD JSON; validates on held-out articles.

    Without ``validation_file`` the last ``validation_articles`` articles of ``train_file`` are held
    out, so no validation question shares a context with a training question. ``metrics.json`` adds
    SQuAD EM / F1 and those of the first-sentence baseline.
    """
    train_set, validation_set = _squad_split(train_file, validation_file, validation_articles)
    train, validation = sample_split(read_squad(train_set, path=train_file),
                                     read_squad(validation_set, path=validation_file or train_file), options)
    start_run(out_dir, options)
    model = SpanQuestionAnswerer(
        encoder,
        preprocessor,
        max_seq_length=max_seq_length,
        doc_stride=doc_stride,
        max_query_length=max_query_length,
        version_2_with_negative=any(example.is_impossible for example in train),
    )
    if options.verbose:
        split = (f"validation from {validation_file}" if validation_file
                 else f"the last {validation_articles} of its articles held out")
        print(summarize_questions(train, validation, model.preprocessor, split, source=train_file,
                                  max_seq_length=model.max_seq_length), flush=True)
    return train_on_features(model, train, validation, out_dir, options,
                             evaluate=lambda model: evaluate_question_answering(model, validation_set, validation))


def evaluate_question_answering(model: keras.Model | str | os.PathLike, squad: dict | str | os.PathLike,
                                examples: list | None = None) -> dict[str, float]:
    """SQuAD EM / F1 of a QA model (a model or a ``.keras`` path) and of the first-sentence baseline."""
    model = load_model_or_path(model, SpanQuestionAnswerer)
    dataset = squad if isinstance(squad, dict) else load_squad_json(squad)
    examples = examples if examples is not None else read_squad(dataset, path=None if dataset is squad else squad)
    answers = model.predict_examples(examples)
    predictions = {example.qas_id: answer["answer"] for example, answer in zip(examples, answers)}
    scores = squad_evaluate(_restricted(dataset, predictions), predictions)
    baseline = squad_evaluate(_restricted(dataset, predictions), first_sentence_baseline(examples))
    return {**scores, "baseline_exact_match": baseline["exact_match"], "baseline_f1": baseline["f1"]}


def _squad_split(train_file, validation_file, validation_articles):
    dataset = load_squad_json(train_file)
    read_squad(dataset, path=train_file)  # errors name places in the whole file, not in one side of the split
    if validation_file:
        return dataset, load_squad_json(validation_file)
    articles = dataset["data"]
    if not 0 < validation_articles < len(articles):
        raise InvalidArgumentError(
            f"{train_file} has {len(articles)} articles; cannot hold out {validation_articles} for validation."
        )
    return (
        {**dataset, "data": articles[:-validation_articles]},
        {**dataset, "data": articles[-validation_articles:]},
    )


def _restricted(dataset, predictions):
    """The SQuAD dataset cut down to the questions that were predicted (sampled runs)."""
    articles = []
    for article in dataset["data"]:
        paragraphs = []
        for paragraph in article["paragraphs"]:
            questions = [qa for qa in paragraph["qas"] if qa["id"] in predictions]
            if questions:
                paragraphs.append({**paragraph, "qas": questions})
        if paragraphs:
            articles.append({**article, "paragraphs": paragraphs})
    return {**dataset, "data": articles}
