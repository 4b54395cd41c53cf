"""Raw-text serving signatures for the task models, as ``tf.Module``s ready for ``tf.saved_model.save``.

``ClassifierServing`` wraps a ``TextClassifier``: ``text`` (and ``text_b`` for pairs) in,
``probabilities`` and ``label`` (plus ``label_name`` when the model has class names) out; for
regression, ``value``. ``EmbedderServing`` wraps a ``TextEmbedder``: ``text`` in, ``embedding`` out.
``QuestionAnsweringServing`` wraps a ``SpanQuestionAnswerer``: ``question``
and ``context`` in, ``answer``, ``score``, ``start`` and ``end`` out, with the windows over long
contexts and the span search of :mod:`tfhub_llm.tasks.qa_features` done in the graph, so TF
Serving runs no Python. All pad each request only to its longest input. Over a preprocessor whose
own packing uses ops TF Serving 2.12-2.19 lacks, inputs are packed with ragged ops and only the
preprocessor's tokenizers are saved (:mod:`tfhub_llm.tf_serving.packing`).

The modules track the restored TF-Hub encoder and preprocessor and the model's weights, not the
Keras model itself, so an export holds no optimizer state.
"""

import tensorflow as tf

from tfhub_llm.hub_contract import EMBEDDING_INPUT, EMBEDDING_OUTPUT, SERVING_SIGNATURE, string_input_specs
from tfhub_llm.layers import pack_inputs
from tfhub_llm.data import MULTILABEL, REGRESSION
from tfhub_llm.tf_serving.packing import TokenizeOnly, unservable_packing_ops

MULTI_LABEL_THRESHOLD = 0.5


def track_model(module, model):
    """Makes ``module`` (a ``tf.Module`` to save or convert) hold ``model``'s weights and its encoder's TF-Hub module."""
    module.model_variables = [weight.value for weight in model.weights]
    module.encoder = model.encoder.module


class TaskServing(tf.Module):
    """Base of every task's serving module (here and in entity_signature): tracks its weights and TF-Hub modules."""

    def __init__(self, model, input_names):
        super().__init__(name=type(self).__name__)
        track_model(self, model)
        self.ragged_ops = bool(unservable_packing_ops(model.preprocessor))
        # Saved whole, the module would keep its own packing functions (and their ops) in the export.
        self.preprocessor = TokenizeOnly(model.preprocessor.module) if self.ragged_ops else model.preprocessor.module
        self.input_names = tuple(input_names)

    def input_signature(self):
        return string_input_specs(self.input_names)

    def _trace(self, serve):
        """The concrete function of ``serve`` over the input signature (traced once; saving reuses it)."""
        return tf.function(serve, input_signature=self.input_signature()).get_concrete_function()

    def signatures(self):
        """``{"serving_default": concrete function}`` for ``tf.saved_model.save``."""
        return {SERVING_SIGNATURE: self.serve}

    def save(self, path):
        """Writes the SavedModel with its signatures to ``path``."""
        tf.saved_model.save(self, str(path), signatures=self.signatures())


class ClassifierServing(TaskServing):
    """``serving_default`` of a ``TextClassifier``.

    Outputs, by label type:
      * multi-class: ``probabilities`` float32 ``[batch, classes]``, ``label`` int64 ``[batch]`` (argmax)
        and, with label names, ``label_name`` string ``[batch]``;
      * multi-label: ``probabilities``, ``label`` int64 k-hot ``[batch, classes]`` (probability above
        0.5, the threshold Keras' binary accuracy uses) and, with label names, ``label_name`` string
        ``[batch, classes]`` holding each predicted class's name and "" elsewhere;
      * regression: ``value`` float32 ``[batch]``.
    """

    def __init__(self, model):
        super().__init__(model, ("text", "text_b") if model.text_pair else ("text",))
        self.label_names = tf.constant(model.label_names) if model.label_names else None
        label_type = model.label_type
        seq_length = model.preprocessor.max_seq_length

        def serve(*texts):
            encoder_inputs = pack_inputs(self.preprocessor, list(texts), seq_length, pad_to_longest=True,
                                         ragged_ops=self.ragged_ops)
            return classifier_outputs(model.probabilities(encoder_inputs), label_type, self.label_names)

        self.serve = self._trace(serve)


def classifier_outputs(probabilities, label_type, label_names=None):
    """A classifier's serving outputs from its probabilities (see :class:`ClassifierServing`).

    ``label_names`` is a string tensor of the class names, or None.
    """
    if label_type == REGRESSION:
        return {"value": probabilities[:, 0]}
    multi_label = label_type == MULTILABEL
    if multi_label:
        label = tf.cast(probabilities > MULTI_LABEL_THRESHOLD, tf.int64)
    else:
        label = tf.argmax(probabilities, axis=-1)
    outputs = {"probabilities": probabilities, "label": label}
    if label_names is not None:
        if multi_label:  # each predicted class's name, "" elsewhere: a gather, as TFLite selects no strings
            names_after_blank = tf.concat([[""], label_names], axis=0)
            name_index = label * tf.range(1, tf.size(label_names, tf.int64) + 1)  # 0 (the blank) where not predicted
            outputs["label_name"] = tf.gather(names_after_blank, name_index)
        else:
            outputs["label_name"] = tf.gather(label_names, label)
    return outputs


class EmbedderServing(TaskServing):
    """``serving_default`` of a ``TextEmbedder``: ``text`` in, ``embedding`` float32 ``[batch, dim]`` out."""

    def __init__(self, model):
        super().__init__(model, (EMBEDDING_INPUT,))
        seq_length = model.preprocessor.max_seq_length

        def serve(texts):
            encoder_inputs = pack_inputs(self.preprocessor, texts, seq_length, pad_to_longest=True,
                                         ragged_ops=self.ragged_ops)
            return {EMBEDDING_OUTPUT: model.embeddings(encoder_inputs)}

        self.serve = self._trace(serve)


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


def char_offsets(texts, byte_starts, byte_ends):
    """Ragged ``[batch, (tokens)]`` UTF-8 byte offsets into ``texts`` as character offsets: the QA and entity signatures'."""
    _, char_byte_offsets = tf.strings.unicode_decode_with_offsets(texts, "UTF-8")
    total_bytes = tf.cast(tf.strings.length(texts), tf.int64)[:, None]
    char_bytes = tf.concat([char_byte_offsets, total_bytes], axis=1).to_tensor(default_value=tf.int64.max)
    starts = tf.searchsorted(char_bytes, byte_starts.to_tensor(), side="right", out_type=tf.int64) - 1
    ends = tf.searchsorted(char_bytes, byte_ends.to_tensor(), side="left", out_type=tf.int64)
    lengths = byte_starts.row_lengths()
    return tf.RaggedTensor.from_tensor(starts, lengths), tf.RaggedTensor.from_tensor(ends, lengths)


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


def sliding_windows(row_starts, num_tokens, window_length, doc_stride):
    """Windows over each example's tokens as qa_features lays them out, in the graph: the QA and entity signatures'.

    ``row_starts`` / ``num_tokens`` ([examples]) locate each example's tokens in a flat token vector;
    ``window_length`` ([examples]) is how many fit in a window. Returns each window's example index,
    the ragged ``[windows, (tokens)]`` flat indices of its tokens, and whether the window gives each
    of them its most context.
    """
    step = tf.minimum(window_length, doc_stride)
    num_windows = 1 + tf.maximum(tf.constant(0, tf.int64), -((window_length - num_tokens) // step))  # 1 + ceil((n-W)/step)
    example = tf.repeat(tf.range(tf.size(num_tokens, out_type=tf.int64)), num_windows)
    window = tf.ragged.range(num_windows).flat_values
    window_start = window * tf.gather(step, example)
    window_tokens = tf.minimum(tf.gather(num_tokens, example) - window_start, tf.gather(window_length, example))
    first_token = tf.gather(row_starts, example) + window_start
    token_index = tf.ragged.range(first_token, first_token + window_tokens)
    is_max_context = _is_max_context(window, window_start, window_tokens, example, num_tokens, window_length, step)
    return example, token_index, is_max_context


def _type_ids(head, word_ids):
    """0 over ``[CLS] question [SEP]``, 1 over the context window and its ``[SEP]``, 0 in the padding."""
    head_lengths = head.row_lengths()
    positions = tf.ragged.range(word_ids.row_lengths())
    return tf.cast(positions >= head_lengths[:, None], tf.int32).to_tensor()


def _is_max_context(window, window_start, window_tokens, example, num_tokens, window_length, step):
    """Ragged ``[rows, (window tokens)]``: whether each token has its most context in this window.

    A token's score in a window is its distance to the nearer window edge plus 0.01 x the window's
    length; the first window with the highest score wins (BERT's reference rule, as in qa_features).
    """
    positions = tf.ragged.range(window_start, window_start + window_tokens)
    token_example = tf.gather(example, positions.value_rowids())
    max_windows = tf.maximum(tf.reduce_max(window) + 1, 0)  # 0 for an empty request
    candidates = tf.range(max_windows)[None, :]
    starts = candidates * tf.gather(step, token_example)[:, None]
    lengths = tf.minimum(tf.gather(num_tokens, token_example)[:, None] - starts,
                         tf.gather(window_length, token_example)[:, None])
    position = positions.values[:, None]
    inside = (position >= starts) & (position < starts + lengths)
    distance = tf.minimum(position - starts, starts + lengths - 1 - position)
    score = tf.where(inside, tf.cast(distance, tf.float64) + 0.01 * tf.cast(lengths, tf.float64), -float("inf"))
    best_score = tf.reduce_max(score, axis=1, keepdims=True)
    first_best = tf.reduce_min(tf.where(score == best_score, candidates, max_windows), axis=1)
    is_best = first_best == tf.gather(window, positions.value_rowids())
    return tf.RaggedTensor.from_row_splits(is_best, positions.row_splits)


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
