"""The BERT text preprocessor as a ``tf.Module``: strings → WordPiece ids → packed model inputs.

Built only from TF Text's BertTokenizer op family (CaseFoldUTF8, NormalizeUTF8,
RegexSplitWithOffsets, WordpieceTokenizeWithOffsets), the Fast* ops behind ``tokenize_with_offsets``
(FastBertNormalize, FastWordpieceTokenizeWithOffsets, both in TF Text 2.12.1) and core TensorFlow,
so the exported graph loads in TF Serving 2.12+ (whose TF Text is 2.12.1). Round-robin truncation is done with ragged
core ops rather than ``text.RoundRobinTrimmer``, whose ``RoundRobinTrim`` op is newer than that.
"""

import pathlib

import tensorflow as tf
import tensorflow_text as text

from tfhub_llm.errors import InvalidArgumentError, InvalidFileError, MissingFileError
from tfhub_llm.hub_contract import DEFAULT_SEQ_LENGTH

SPECIAL_TOKENS = {
    "start_of_sequence_id": "[CLS]",
    "end_of_segment_id": "[SEP]",
    "padding_id": "[PAD]",
    "mask_id": "[MASK]",
}
UNKNOWN_TOKEN = "[UNK]"


def read_vocab(vocab_file):
    """The tokens of a one-token-per-line vocab file, checked for duplicates and BERT's special tokens."""
    path = pathlib.Path(vocab_file)
    if not path.is_file():
        raise MissingFileError(f"vocab file {path} does not exist")
    tokens = path.read_text(encoding="utf-8").split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    first_line = {}
    for line_number, token in enumerate(tokens, start=1):
        if token in first_line:
            raise InvalidFileError(f"{path}:{line_number}: token {token!r} repeats line {first_line[token]}")
        first_line[token] = line_number
    missing = [t for t in [*SPECIAL_TOKENS.values(), UNKNOWN_TOKEN] if t not in first_line]
    if missing:
        raise InvalidFileError(f"{path} lacks BERT's special tokens {missing}")
    return tokens


def round_robin_trim(segments, budget):
    """Cuts ragged ``[batch, tokens]`` segments (one or two) to ``budget`` tokens per row in total.

    Tokens are allotted one segment at a time in turn, as ``text.RoundRobinTrimmer`` does, so a
    short segment keeps all its tokens and the other gets the rest of the budget.
    """
    kept = round_robin_lengths([segment.row_lengths() for segment in segments], budget)
    return [_keep_first(segment, count) for segment, count in zip(segments, kept)]


def round_robin_lengths(lengths, budget):
    """How many tokens of each segment (lengths ``[batch]``, one or two) round-robin trimming keeps."""
    if len(lengths) not in (1, 2):
        raise InvalidArgumentError(f"bert_pack_inputs takes 1 or 2 segments, got {len(lengths)}")
    budget = tf.maximum(tf.cast(budget, lengths[0].dtype), 0)
    if len(lengths) == 1:
        return [tf.minimum(lengths[0], budget)]
    first = tf.minimum(lengths[0], tf.maximum((budget + 1) // 2, budget - lengths[1]))
    return [first, tf.minimum(lengths[1], budget - first)]


def _keep_first(segment, counts):
    starts = segment.row_starts()
    kept = tf.ragged.range(starts, starts + counts)
    return tf.RaggedTensor.from_row_splits(tf.gather(segment.values, kept.values), kept.row_splits)


class WordpieceTokenize(tf.Module):
    """``tokenize(sentences)``: ragged int32 ``[batch, words, wordpieces]``; plus the special token ids."""

    def __init__(self, tokenizer, special_ids, vocab_size):
        super().__init__(name="tokenize")
        self._tokenizer = tokenizer
        self._special_ids = dict(special_ids)
        self._vocab_size = vocab_size

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="sentences")])
    def __call__(self, sentences):
        return self._tokenizer.tokenize(sentences)

    @tf.function(input_signature=[])
    def get_special_tokens_dict(self):
        """start_of_sequence_id, end_of_segment_id, padding_id, mask_id and vocab_size as int32 scalars."""
        ids = {**self._special_ids, "vocab_size": self._vocab_size}
        return {key: tf.constant(value, tf.int32) for key, value in ids.items()}


class BertPreprocessor(tf.Module):
    """Strings to the 3-key int32 dict a TF-Hub BERT encoder takes, with TF-Hub's sub-functions.

    Any string is accepted: empty or blank ones pack to ``[CLS] [SEP]``, long ones are cut to the
    sequence length, and bytes that are not valid UTF-8 are read as U+FFFD (TF Text's replacement),
    so the word holding them becomes ``[UNK]`` while the rest of the text is tokenized as usual
    (``tests/test_bad_input.py``). Offsets from ``tokenize_with_offsets`` stay byte offsets into the input.

    Args:
        vocab_file: the WordPiece vocab, one token per line (becomes a SavedModel asset).
        do_lower_case: lower-case and strip accents before WordPiece (uncased models).
        default_seq_length: the sequence length of the default call.
    """

    def __init__(self, vocab_file, do_lower_case, default_seq_length=DEFAULT_SEQ_LENGTH):
        super().__init__(name="bert_preprocessor")
        tokens = read_vocab(vocab_file)
        index = {token: i for i, token in enumerate(tokens)}
        self.default_seq_length = int(default_seq_length)
        self.do_lower_case = bool(do_lower_case)
        self.vocab_file = tf.saved_model.Asset(str(vocab_file))
        table = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                self.vocab_file, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER),
            default_value=index[UNKNOWN_TOKEN])
        self._tokenizer = text.BertTokenizer(
            table, token_out_type=tf.int32, unknown_token=UNKNOWN_TOKEN, lower_case=self.do_lower_case)
        # BertTokenizer reports offsets into the lower-cased, accent-stripped text; the fast
        # tokenizer (same ids) reports them into the input, which answer spans need.
        self._offsets_tokenizer = text.FastBertTokenizer(
            tokens, token_out_type=tf.int32, unknown_token=UNKNOWN_TOKEN, support_detokenization=False,
            lower_case_nfd_strip_accents=self.do_lower_case)
        self._special_ids = {key: index[token] for key, token in SPECIAL_TOKENS.items()}
        self.tokenize = WordpieceTokenize(self._tokenizer, self._special_ids, len(tokens))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="sentences")])
    def __call__(self, sentences):
        """Tokenizes and packs single sentences at ``default_seq_length``."""
        return pack_with_ragged_ops([self._tokenizer.tokenize(sentences)], self.default_seq_length, self._special_ids)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="sentences")])
    def tokenize_with_offsets(self, sentences):
        """Ragged ``[batch, tokens, 1]`` int32 ids and int64 byte start / end offsets into ``sentences``."""
        return tuple(
            tf.expand_dims(part, -1) for part in self._offsets_tokenizer.tokenize_with_offsets(sentences))

    @tf.function
    def bert_pack_inputs(self, segments, seq_length=DEFAULT_SEQ_LENGTH):
        """Packs 1 or 2 ragged segments (``[batch, tokens]`` or ``[batch, words, wordpieces]``) into
        ``[CLS] a [SEP] (b [SEP])``, trimmed round-robin and padded to ``seq_length``."""
        return pack_with_ragged_ops(segments, seq_length, self._special_ids)


def pack_with_ragged_ops(segments, seq_length, special_ids):
    """``[CLS] a [SEP] (b [SEP])`` from 1 or 2 ragged segments, trimmed round-robin, padded to ``seq_length``.

    Segments are ``[batch, tokens]``, ``[batch, tokens, 1]`` or ``[batch, words, pieces]``;
    ``special_ids`` has ``start_of_sequence_id``, ``end_of_segment_id`` and ``padding_id`` (as a TF-Hub
    preprocessor's ``tokenize.get_special_tokens_dict()`` gives them). The ids equal those of
    ``text.RoundRobinTrimmer`` + ``combine_segments`` + ``pad_model_inputs`` (Model Garden's packing),
    from ops TF Serving 2.12+ has.
    """
    segments = [tf.cast(s.merge_dims(1, -1) if s.shape.rank > 2 else s, tf.int32) for s in segments]
    special_tokens = len(segments) + 1
    start, end, padding = (tf.cast(special_ids[key], tf.int32) for key in (
        "start_of_sequence_id", "end_of_segment_id", "padding_id"))
    trimmed = round_robin_trim(segments, tf.cast(seq_length, tf.int64) - special_tokens)
    word_ids, type_ids = text.combine_segments(trimmed, start_of_sequence_id=start, end_of_segment_id=end)
    input_word_ids, input_mask = text.pad_model_inputs(word_ids, seq_length, pad_value=padding)
    input_type_ids, _ = text.pad_model_inputs(type_ids, seq_length)
    return {
        "input_word_ids": tf.cast(input_word_ids, tf.int32),
        "input_mask": tf.cast(input_mask, tf.int32),
        "input_type_ids": tf.cast(input_type_ids, tf.int32),
    }
