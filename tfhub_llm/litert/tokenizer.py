"""On-device tokenizers: a preprocessor's tokenization rebuilt from TF Text ops that have TFLite kernels.

A WordPiece preprocessor becomes ``text.FastBertTokenizer`` (custom ops FastBertNormalize and
FastWordpieceTokenizeWithOffsets) over its vocab; a SentencePiece one ``text.FastSentencepieceTokenizer``
(FastSentencepieceTokenize) over its model, optionally after FastBertNormalize's lower-casing. The vocab
or SentencePiece model comes from the preprocessor's assets or, where TF Hub's BERT exports keep it,
the encoder's, read only as a regular file inside the model's ``assets/`` (:func:`tfhub_llm.hub.assets.read_asset`,
as the describer reads it, so an asset name cannot put another file into the export). No flag is trusted
alone: each candidate is run next to the preprocessor's own ``tokenize`` on probe texts (capitals,
accents, CJK, punctuation, unknown words, empty), and the first that gives the same ids is used; when
none does, the export is refused with the first difference.
"""

import dataclasses

import tensorflow as tf
import tensorflow_text as text

from tfhub_llm.bert.preprocessing import UNKNOWN_TOKEN
from tfhub_llm.hub.assets import asset_file, read_asset, read_asset_lines
from tfhub_llm.litert.ops import LiteRTConversionError

PROBE_TEXTS = [
    "A gripping, beautifully acted film.",
    "HÉLLO Wörld! Ça va? naïve café résumé",
    "東京 is in JAPAN; 北京 isn't.",
    "supercalifragilisticexpialidocious xqzvw 3.14159 $1,000,000 e-mail @user #tag",
    "tabs\tand\nnewlines  and   spaces, emoji 😀 and symbols ™ © ½",
    "",
]


@dataclasses.dataclass(frozen=True)
class OnDeviceTokenizer:
    """A TF Text tokenizer with TFLite kernels, as the on-device graph calls it.

    Attributes:
        description: what it is, e.g. ``FastBertTokenizer(lower_case=True) over vocab.txt``.
        custom_ops: the TFLite custom ops (TF Text kernels) its graph needs.
    """

    description: str
    custom_ops: tuple
    _tokenize: object

    def tokenize(self, texts):
        """Word piece ids of a ``[batch]`` string tensor: flat int32 ``values`` and int32 ``row_splits``.

        Plain tensors, not a ``tf.RaggedTensor``, so that the packing after it needs no ragged ops.
        """
        pieces = self._tokenize(texts)
        splits = pieces.row_splits
        for nested in pieces.nested_row_splits[1:]:  # [batch, words, pieces] → one split per text
            splits = tf.gather(nested, splits)
        return tf.cast(pieces.flat_values, tf.int32), tf.cast(splits, tf.int32)


def _wordpiece_candidates(vocab_file, declared_lower_case):
    vocab = read_asset_lines(vocab_file)
    casings = [True, False] if declared_lower_case is None else [declared_lower_case, not declared_lower_case]
    for lower_case in casings:
        tokenizer = text.FastBertTokenizer(
            vocab, token_out_type=tf.int32, unknown_token=UNKNOWN_TOKEN, support_detokenization=False,
            lower_case_nfd_strip_accents=lower_case)
        custom_ops = (("FastBertNormalize",) if lower_case else ()) + ("FastWordpieceTokenizeWithOffsets",)
        yield OnDeviceTokenizer(f"FastBertTokenizer(lower_case={lower_case}) over {vocab_file}", custom_ops,
                                tokenizer.tokenize)


def _sentencepiece_candidates(model_file):
    tokenizer = text.FastSentencepieceTokenizer(read_asset(model_file))
    yield OnDeviceTokenizer(f"FastSentencepieceTokenizer over {model_file}", ("TFText>FastSentencepieceTokenize",),
                            tokenizer.tokenize)
    normalizer = text.FastBertNormalizer(lower_case_nfd_strip_accents=True)
    yield OnDeviceTokenizer(
        f"FastBertNormalizer(lower_case=True), then FastSentencepieceTokenizer over {model_file}",
        ("FastBertNormalize", "TFText>FastSentencepieceTokenize"),
        lambda texts: tokenizer.tokenize(normalizer.normalize(texts)))


def _rows(values, splits):
    values, splits = values.numpy().tolist(), splits.numpy().tolist()
    return [values[start:end] for start, end in zip(splits[:-1], splits[1:])]


def on_device_tokenizer(preprocessor, encoder):
    """The :class:`OnDeviceTokenizer` that gives ``preprocessor``'s word piece ids on :data:`PROBE_TEXTS`.

    Args:
        preprocessor: the model's :class:`~tfhub_llm.layers.hub_layers.HubPreprocessor`.
        encoder: the model's :class:`~tfhub_llm.layers.hub_layers.HubEncoder` (TF Hub keeps the vocab there, too).

    Raises:
        LiteRTConversionError: no vocab or SentencePiece model asset, or no candidate matches.
    """
    modules = (preprocessor.module, encoder.module)
    vocab_file = asset_file(modules, "vocab_file")
    sentencepiece_file = asset_file(modules, "sp_model_file")
    if vocab_file:
        declared = getattr(preprocessor.module, "do_lower_case", getattr(encoder.module, "do_lower_case", None))
        candidates = _wordpiece_candidates(vocab_file, None if declared is None else bool(declared.numpy()))
    elif sentencepiece_file:
        candidates = _sentencepiece_candidates(sentencepiece_file)
    else:
        raise LiteRTConversionError(
            f"The preprocessor {preprocessor.handle!r} and the encoder {encoder.handle!r} have no vocab_file "
            "(WordPiece) nor sp_model_file (SentencePiece) asset to build an on-device tokenizer from.")
    probes = tf.constant(PROBE_TEXTS)
    expected = preprocessor.tokenize(probes)
    expected = expected.merge_dims(1, -1) if expected.shape.rank > 2 else expected
    expected = _rows(tf.cast(expected.values, tf.int32), expected.row_splits)
    differences = []
    for candidate in candidates:
        found = _rows(*candidate.tokenize(probes))
        if found == expected:
            return candidate
        probe, want, got = next((p, w, g) for p, w, g in zip(PROBE_TEXTS, expected, found) if w != g)
        differences.append(f"{candidate.description} gives {got[:12]} for {probe!r} where the preprocessor gives "
                           f"{want[:12]}")
    raise LiteRTConversionError(
        f"No on-device tokenizer reproduces the preprocessor {preprocessor.handle!r} (its graph's tokenizer ops "
        f"have no TFLite kernels, so it is rebuilt from TF Text's Fast* ops): " + "; ".join(differences) + ".")
