"""``serving_default`` of a ``SpanQuestionAnswerer``: questions and contexts in, answers out, in the graph.

The windows over long contexts (:func:`tfhub_llm.tasks.windows.sliding_windows`, the layout of
:mod:`tfhub_llm.tasks.qa_features`) and the span search of ``qa_features.postprocess_qa`` run as
TensorFlow ops, so TF Serving runs no Python; answers are exact substrings of their contexts.
"""

import tensorflow as tf

from tfhub_llm.tasks.offsets import char_offsets
from tfhub_llm.tasks.serving import TaskServing
from tfhub_llm.tasks.windows import sliding_windows


class QuestionAnsweringServing(TaskServing):
    """``serving_default`` of a ``SpanQuestionAnswerer``: the answer to each question in its context.

    Outputs ``answer`` string, ``score`` float32 (the answer's probability among the n-best spans,
    and the null answer for SQuAD v2.0), ``start`` and ``end`` int64 character offsets with
    ``answer == context[start:end]`` (-1 for no answer), as ``model.predict_answers`` returns them.
    """

    def __init__(self, model):
        super().__init__(model, ("question", "context"))
        self._settings = {key: getattr(model, key) for key in (
            "max_seq_length", "doc_stride", "max_query_length", "n_best_size", "max_answer_length",
            "version_2_with_negative", "null_score_diff_threshold")}
        special_ids = model.preprocessor.special_ids

        def serve(questions, contexts):
            tf.debugging.assert_equal(tf.size(questions), tf.size(contexts),
                                      message="question and context need the same number of rows")
            windows = _qa_windows(self.preprocessor, questions, contexts, special_ids, self._settings)
            logits = model(windows["encoder_inputs"], training=False)
            return _best_answers(contexts, windows, logits["start_logits"], logits["end_logits"], self._settings)

        self.serve = self._trace(serve)


def _tokens_with_char_offsets(preprocessor, texts):
    """Flat word piece ids ``[batch, (tokens)]`` with character (not byte) start / end offsets."""
    ids, byte_starts, byte_ends = (tensor.merge_dims(1, -1) for tensor in preprocessor.tokenize_with_offsets(texts))
    return (tf.cast(ids, tf.int32), *char_offsets(texts, byte_starts, byte_ends))


def _qa_windows(preprocessor, questions, contexts, special_ids, settings):
    """``[CLS] question [SEP] context window [SEP]`` rows, as ``qa_features.make_qa_features`` lays them out.

    Returns the encoder inputs (padded to the longest row), each row's example index, and per row
    position the character span of its context token (-1 elsewhere) and whether this window gives
    that token its most context.
    """
    cls_id, sep_id, pad_id = special_ids
    question_ids = preprocessor.tokenize_with_offsets(questions)[0].merge_dims(1, -1)
    question_ids = tf.cast(question_ids[:, :settings["max_query_length"]], tf.int32)
    context_ids, char_starts, char_ends = _tokens_with_char_offsets(preprocessor, contexts)
    window_length = settings["max_seq_length"] - question_ids.row_lengths() - 3
    example, token_index, is_max_context = sliding_windows(
        context_ids.row_starts(), context_ids.row_lengths(), window_length, settings["doc_stride"])

    def context_row(values, before, after):
        ragged = tf.RaggedTensor.from_row_splits(tf.gather(values, token_index.values), token_index.row_splits)
        return tf.concat([before, ragged, after], axis=1)

    rows = tf.shape(example, out_type=tf.int64)[0]
    question_rows = tf.gather(question_ids, example)
    head = tf.concat([tf.fill([rows, 1], cls_id), question_rows, tf.fill([rows, 1], sep_id)], axis=1)
    word_ids = context_row(context_ids.values, head, tf.fill([rows, 1], sep_id))
    outside = tf.ones_like(head, tf.int64) * -1
    return {
        "encoder_inputs": {
            "input_word_ids": word_ids.to_tensor(default_value=pad_id),
            "input_mask": tf.ones_like(word_ids).to_tensor(),
            "input_type_ids": _type_ids(head, word_ids),
        },
        "example": example,
        "char_starts": context_row(char_starts.values, outside, tf.fill([rows, 1], tf.constant(-1, tf.int64))
                                   ).to_tensor(default_value=-1),
        "char_ends": context_row(char_ends.values, outside, tf.fill([rows, 1], tf.constant(-1, tf.int64))
                                 ).to_tensor(default_value=-1),
        "is_max_context": tf.concat(
            [tf.zeros_like(head, tf.bool), is_max_context, tf.zeros([rows, 1], tf.bool)], axis=1
        ).to_tensor(default_value=False),
    }


def _type_ids(head, word_ids):
    """0 over ``[CLS] question [SEP]``, 1 over the context window and its ``[SEP]``, 0 in the padding."""
    head_lengths = head.row_lengths()
    positions = tf.ragged.range(word_ids.row_lengths())
    return tf.cast(positions >= head_lengths[:, None], tf.int32).to_tensor()


def _window_candidates(windows, start_logits, end_logits, settings):
    """Each window's (start, end) pairs of n-best tokens, start-major: scores (-inf when not a valid answer)
    and their character spans."""
    k = tf.minimum(settings["n_best_size"], tf.shape(start_logits)[1])
    pairs = [tf.shape(start_logits)[0], k, k]
    starts = tf.broadcast_to(tf.math.top_k(start_logits, k).indices[:, :, None], pairs)
    ends = tf.broadcast_to(tf.math.top_k(end_logits, k).indices[:, None, :], pairs)
    char_starts = tf.gather(windows["char_starts"], starts, batch_dims=1)
    char_ends = tf.gather(windows["char_ends"], ends, batch_dims=1)
    valid = ((char_starts >= 0) & (char_ends > char_starts) & (ends >= starts)
             & (ends - starts + 1 <= settings["max_answer_length"])
             & tf.gather(windows["is_max_context"], starts, batch_dims=1))
    scores = tf.gather(start_logits, starts, batch_dims=1) + tf.gather(end_logits, ends, batch_dims=1)
    return tf.where(valid, scores, -float("inf")), char_starts, char_ends


def _best_answers(contexts, windows, start_logits, end_logits, settings):
    """The best span of each example over all its windows, as ``qa_features.postprocess_qa`` picks it."""
    n_best = settings["n_best_size"]
    start_logits = tf.cast(start_logits, tf.float64)
    end_logits = tf.cast(end_logits, tf.float64)
    scores, char_starts, char_ends = _window_candidates(windows, start_logits, end_logits, settings)

    example = windows["example"]
    num_examples = tf.size(contexts, out_type=tf.int64)

    def by_example(values, default):
        flat = tf.reshape(values, [tf.shape(values)[0], -1])
        per_row = tf.RaggedTensor.from_value_rowids(flat, example, nrows=num_examples)
        padded = per_row.merge_dims(1, 2).to_tensor(default_value=default)
        return tf.pad(padded, [[0, 0], [0, 1]], constant_values=default)  # a column even for empty requests

    scores = by_example(scores, -float("inf"))
    order = tf.argsort(scores, axis=1, direction="DESCENDING", stable=True)
    scores = tf.gather(scores, order, batch_dims=1)
    char_starts = tf.gather(by_example(char_starts, -1), order, batch_dims=1)
    char_ends = tf.gather(by_example(char_ends, -1), order, batch_dims=1)
    kept = _first_occurrences(char_starts, char_ends) & (scores > -float("inf"))
    kept &= tf.cumsum(tf.cast(kept, tf.int32), axis=1, exclusive=True) < n_best

    null_score = tf.math.segment_min(start_logits[:, 0] + end_logits[:, 0], example)
    has_span = tf.reduce_any(kept, axis=1)
    best_score = scores[:, 0]
    ranked = tf.where(kept, scores, -float("inf"))
    if settings["version_2_with_negative"]:
        ranked = tf.concat([ranked, null_score[:, None]], axis=1)
        choose_span = has_span & ~(null_score - best_score > settings["null_score_diff_threshold"])
    else:
        choose_span = has_span
    probabilities = tf.nn.softmax(tf.where(tf.reduce_any(ranked > -float("inf"), axis=1, keepdims=True),
                                           ranked, tf.zeros_like(ranked)))
    null_probability = probabilities[:, -1] if settings["version_2_with_negative"] else tf.zeros_like(best_score)
    score = tf.where(choose_span, probabilities[:, 0], null_probability)
    start = tf.where(choose_span, char_starts[:, 0], -1)
    end = tf.where(choose_span, char_ends[:, 0], -1)
    answer = tf.strings.substr(contexts, tf.maximum(start, 0), end - start, unit="UTF8_CHAR")
    return {"answer": answer, "score": tf.cast(score, tf.float32), "start": start, "end": end}


def _first_occurrences(char_starts, char_ends):
    """``[examples, candidates]``: whether each (start, end) span is the first of its example with that span."""
    shape = tf.shape(char_starts, out_type=tf.int64)
    span_keys = tf.strings.join([
        tf.strings.as_string(tf.broadcast_to(tf.range(shape[0])[:, None], shape)),
        tf.strings.as_string(char_starts), tf.strings.as_string(char_ends)], separator=":")
    flat_keys = tf.reshape(span_keys, [-1])
    unique_keys, unique_index = tf.unique(flat_keys)
    positions = tf.range(tf.size(flat_keys))
    first_position = tf.math.unsorted_segment_min(positions, unique_index, tf.size(unique_keys))
    return tf.reshape(tf.gather(first_position, unique_index) == positions, shape)
