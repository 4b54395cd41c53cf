"""Keras 3 layers over TF-Hub SavedModels: ``HubEncoder``, ``HubPreprocessor`` and ``HubTextEmbedding``.

``hub.KerasLayer`` is a tf-keras layer and cannot sit in a Keras 3 model (tensorflow/hub#920); these
layers load the same Reusable SavedModels (through :mod:`tfhub_llm.hub.handles`): BERT encoders and
preprocessors, and text embeddings (USE, NNLM, an exported ``TextEmbedder``: strings → ``[batch, dim]``).
They pass ``training`` through, and expose the SavedModel's variables as Keras weights that share its
storage, so ``fit`` trains them and ``model.save("m.keras")`` keeps them.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable

import keras
import tensorflow as tf

from tfhub_llm.bert.preprocessing import pack_with_ragged_ops
from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.hub import handles
from tfhub_llm.hub.assets import asset_file
from tfhub_llm.hub.resolved_handle import ResolvedHandle
from tfhub_llm.hub.trust import layer_config_for_load
from tfhub_llm import hub_contract
from tfhub_llm.hub_contract import ENCODER_INPUT_KEYS
from tfhub_llm.layers.micro_batches import DEFAULT_MICRO_BATCHES, is_cut, part_starts
from tfhub_llm.layers.module_weights import add_regularization_losses, takes_training, track_module_variables


class _HubLayer(keras.layers.Layer):
    """What the hub layers share: a handle resolved once and loaded, and a config that names it.

    Subclasses pass their loader (a :mod:`tfhub_llm.hub.handles` ``load_*`` function) and list in
    ``_config_keys`` the constructor arguments, kept as attributes of the same name, that their config
    holds besides ``handle``. ``trust`` is never in a config, and a config read from a file goes through
    :func:`tfhub_llm.hub.trust.layer_config_for_load`.
    """

    _config_keys: tuple[str, ...] = ()

    def __init__(self, handle: handles.Handle, load: Callable, trust: bool, **kwargs):
        super().__init__(**kwargs)
        self._resolved = handles.resolve(handle)
        self.handle = self._resolved.handle
        self._module = load(self._resolved, trust=trust)

    @property
    def module(self):
        """The restored SavedModel object."""
        return self._module

    @property
    def resolved_handle(self) -> ResolvedHandle:
        """The handle and the local SavedModel folder it resolved to."""
        return self._resolved

    def get_config(self) -> dict:
        return {**super().get_config(), "handle": self.handle,
                **{key: getattr(self, key) for key in self._config_keys}}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**layer_config_for_load(config, cls.__name__))


@keras.saving.register_keras_serializable(package="tfhub_llm")
class HubEncoder(_HubLayer):
    """A TF-Hub BERT encoder as a Keras 3 layer.

    Args:
        handle: where the encoder lives: a directory, ``file://``, ``http(s)://`` or tfhub.dev / Kaggle URL.
        trainable: whether ``fit`` updates the encoder's variables (fine-tuning).
        output_key: return only this output (e.g. ``"pooled_output"``) instead of the whole dict.
        trust: skip the scan of the SavedModel's ops (see :mod:`tfhub_llm.hub.security`). Never saved in
            the layer's config: a loaded ``.keras`` file is scanned unless the caller trusts it.
        micro_batches: split each batch of at least ``micro_batches * 4`` rows into this many
            micro-batches of similar lengths, each cut to its own longest input (plus one padding
            position, which MobileBERT's embedding reads), so short inputs
            are not computed at the batch's longest length; ``1`` calls the encoder on the whole batch.
        **kwargs: the usual Keras layer arguments (``name``, ...).

    Called on the dict of int32 ``input_word_ids``, ``input_mask`` and ``input_type_ids``, it returns
    ``pooled_output``, ``sequence_output``, ``encoder_outputs`` and ``default``. With micro-batches,
    positions past a micro-batch's longest input are zeros in ``sequence_output`` and
    ``encoder_outputs`` (they are padding, masked out of every unpadded position's result).
    """

    _config_keys = ("output_key", "micro_batches")

    def __init__(self, handle: handles.Handle, trainable: bool = False, output_key: str | None = None,
                 trust: bool = False, micro_batches: int = DEFAULT_MICRO_BATCHES, **kwargs):
        if micro_batches < 1:
            raise InvalidArgumentError(f"micro_batches must be at least 1, got {micro_batches}.")
        super().__init__(handle, handles.load_encoder, trust, trainable=trainable, **kwargs)
        self.output_key = output_key
        self.micro_batches = micro_batches
        track_module_variables(self, self._module)
        self.built = True

    @property
    def has_mlm(self) -> bool:
        """Whether the encoder has an ``mlm`` sub-object (a masked-language-model head)."""
        return hasattr(self._module, "mlm")

    @property
    def vocab_file(self) -> str | None:
        """Path of the encoder's vocabulary asset, when it has one."""
        return asset_file([self._module], "vocab_file")

    def call(self, inputs, training=None):
        training = bool(training)
        encoder_inputs = hub_contract.encoder_inputs(inputs)
        if self.micro_batches > 1:
            batch_size = tf.shape(encoder_inputs["input_mask"])[0]
            outputs = tf.cond(
                is_cut(batch_size, self.micro_batches),
                lambda: self._call_by_length(encoder_inputs, training),
                lambda: dict(self._module(encoder_inputs, training=training)),
            )
        else:
            outputs = dict(self._module(encoder_inputs, training=training))
        if training and self.trainable:
            add_regularization_losses(self, self._module)
        return outputs[self.output_key] if self.output_key else outputs

    def _call_by_length(self, inputs, training):
        """The encoder on length-sorted micro-batches, each cut after its longest input, in the input order."""
        mask = tf.cast(inputs["input_mask"], tf.int32)
        batch_size, width = tf.shape(mask)[0], tf.shape(mask)[1]
        lengths = tf.reduce_max(mask * tf.range(1, width + 1)[tf.newaxis], axis=1)  # last unmasked position + 1
        order = tf.argsort(lengths, stable=True)
        pieces = []
        starts = part_starts(batch_size, self.micro_batches)
        for start, end in zip(starts, starts[1:]):
            rows = order[start:end]
            # One padding position stays: MobileBERT's embedding sees each token's right neighbour.
            cut = tf.minimum(tf.reduce_max(tf.gather(lengths, rows)) + 1, width)
            piece = {key: tf.gather(value, rows)[:, :cut] for key, value in inputs.items()}
            pieces.append(dict(self._module(piece, training=training)))
        restore = tf.math.invert_permutation(order)
        output_specs = self._module.__call__.concrete_functions[0].structured_outputs

        def merge(spec, *parts):
            # Pad the sequence axes (dynamic in the encoder's signature, past the batch axis) back to the
            # batch's length: [rows, cut, width] outputs, and [rows, heads, cut, cut] attention scores.
            padding = [[0, 0]] + [[0, 0] if size is not None else None for size in spec.shape[1:]]
            parts = [tf.pad(part, [pad or [0, width - tf.shape(part)[axis]] for axis, pad in enumerate(padding)])
                     for part in parts]
            return tf.gather(tf.concat(parts, axis=0), restore)

        specs = tf.nest.flatten(dict(output_specs))
        merged = [merge(spec, *parts) for spec, parts in zip(specs, zip(*(tf.nest.flatten(p) for p in pieces)))]
        return tf.nest.pack_sequence_as(pieces[0], merged)

    def mlm_logits(self, inputs: dict, masked_lm_positions, training: bool = False) -> tf.Tensor:
        """Vocabulary logits ``[batch, num_positions, vocab]`` at ``masked_lm_positions`` (fill-mask)."""
        if not self.has_mlm:
            raise InvalidArgumentError(f"The encoder {self.handle!r} has no 'mlm' sub-object, so it cannot predict masked tokens.")
        mlm_inputs = hub_contract.encoder_inputs(inputs)
        mlm_inputs["masked_lm_positions"] = tf.cast(masked_lm_positions, tf.int32)
        return self._module.mlm(mlm_inputs, training=training)["mlm_logits"]


@contextlib.contextmanager
def whole_batches(encoder: HubEncoder):
    """Inside the block, ``encoder`` (a :class:`HubEncoder`) runs on whole batches, without micro-batches by length.

    For graphs traced to export (a TF-Hub text embedding, a LiteRT model), so that they hold only the
    encoder's own ops and not the sorting and gathering of the micro-batches.
    """
    micro_batches = encoder.micro_batches
    encoder.micro_batches = 1
    try:
        yield
    finally:
        encoder.micro_batches = micro_batches


@keras.saving.register_keras_serializable(package="tfhub_llm")
class HubPreprocessor(_HubLayer):
    """A TF-Hub BERT preprocessor as a Keras 3 layer: strings in, the encoder's input dict out.

    Works with WordPiece (BERT, ELECTRA, MobileBERT, ...) and SentencePiece (ALBERT) preprocessors.

    Args:
        handle: where the preprocessor lives (same forms as for :class:`HubEncoder`).
        seq_length: the packed length; by default the preprocessor's own (``default_seq_length``,
            what its default call packs to: 128 for most TF Hub preprocessors, 32 to 512 for others).
            With ``pad_to_longest=True`` it is the maximum, and each batch is padded only to its longest input.
        pad_to_longest: pad each batch to its longest input instead of ``seq_length``.
        trust: skip the scan of the SavedModel's ops (never saved in the layer's config).

    Called on a batch of strings, or on a list of two batches for sentence pairs.
    """

    _config_keys = ("seq_length", "pad_to_longest")

    def __init__(self, handle: handles.Handle, seq_length: int | None = None, pad_to_longest: bool = False,
                 trust: bool = False, **kwargs):
        kwargs.pop("trainable", None)  # a preprocessor has nothing to train
        super().__init__(handle, handles.load_preprocessor, trust, trainable=False, **kwargs)
        self.seq_length = seq_length
        self.pad_to_longest = pad_to_longest
        self.special_tokens = {
            key: int(value) for key, value in self._module.tokenize.get_special_tokens_dict().items()
        }
        self.built = True

    @functools.cached_property
    def default_seq_length(self) -> int:
        """The sequence length the SavedModel's own default call packs to (read by packing a probe, once,
        when first needed: never when ``seq_length`` is given). The probe runs eagerly even when first needed
        while a graph is traced, so it never becomes part of an exported graph."""
        with tf.init_scope():
            packed = self._module(tf.constant(["probe"]))
        width = packed["input_word_ids"].shape[-1] if isinstance(packed, dict) and "input_word_ids" in packed else None
        if not width:
            raise handles.HandleError(
                f"The preprocessor {self.handle!r} did not pack a probe string into input_word_ids "
                f"[batch, seq_length] with its default call; pass seq_length= explicitly or check the handle.")
        return int(width)

    @property
    def vocab_size(self) -> int:
        return self.special_tokens["vocab_size"]

    @property
    def cls_id(self) -> int:
        return self.special_tokens["start_of_sequence_id"]

    @property
    def sep_id(self) -> int:
        return self.special_tokens["end_of_segment_id"]

    @property
    def pad_id(self) -> int:
        return self.special_tokens["padding_id"]

    @property
    def special_ids(self) -> tuple[int, int, int]:
        """``(cls_id, sep_id, pad_id)``: what a window of word pieces is packed with."""
        return self.cls_id, self.sep_id, self.pad_id

    @property
    def mask_id(self) -> int:
        return self.special_tokens["mask_id"]

    @property
    def max_seq_length(self) -> int:
        """The packed length: ``seq_length`` when given, else the preprocessor's ``default_seq_length``."""
        return self.seq_length or self.default_seq_length

    @property
    def has_offsets(self) -> bool:
        """Whether the preprocessor has ``tokenize_with_offsets`` (SentencePiece ones exported by Model Garden do not)."""
        return hasattr(self._module, "tokenize_with_offsets")

    def tokenize(self, strings) -> tf.RaggedTensor:
        """Token ids of each string, as the preprocessor's ``tokenize`` returns them: ragged int32
        ``[batch, words, wordpieces]`` for WordPiece, ``[batch, pieces]`` for SentencePiece."""
        return self._module.tokenize(tf.convert_to_tensor(strings, tf.string))

    def token_ids(self, strings) -> tf.RaggedTensor:
        """Token ids of each string as ragged int32 ``[batch, tokens]``, whatever the tokenizer."""
        return _flat_tokens(self.tokenize(strings))

    def tokenize_with_offsets(self, strings) -> tuple[tf.RaggedTensor, tf.RaggedTensor, tf.RaggedTensor]:
        """``(ids, starts, ends)``, each ragged ``[batch, tokens]``: ids and UTF-8 byte offsets into each string."""
        if not self.has_offsets:
            raise InvalidArgumentError(
                f"The preprocessor {self.handle!r} has no tokenize_with_offsets (Model Garden exports "
                "SentencePiece preprocessors without it), so token positions cannot be mapped back to the text.")
        ids, starts, ends = self._module.tokenize_with_offsets(tf.convert_to_tensor(strings, tf.string))
        return _flat_tokens(ids), _flat_tokens(starts), _flat_tokens(ends)

    def bert_pack_inputs(self, segments, seq_length: int | None = None) -> dict[str, tf.Tensor]:
        """Packs 1 or 2 tokenized segments into the encoder's input dict of length ``seq_length``."""
        seq_length = self.max_seq_length if seq_length is None else seq_length
        return dict(self._module.bert_pack_inputs(list(segments), seq_length=seq_length))

    def call(self, inputs):
        return pack_inputs(self._module, inputs, self.max_seq_length, self.pad_to_longest)

    def compute_output_spec(self, inputs):
        batch = (inputs[0] if isinstance(inputs, (list, tuple)) else inputs).shape[0]
        length = None if self.pad_to_longest else self.max_seq_length
        return {
            key: keras.KerasTensor((batch, length), dtype="int32") for key in ENCODER_INPUT_KEYS
        }


@keras.saving.register_keras_serializable(package="tfhub_llm")
class HubTextEmbedding(_HubLayer):
    """A TF-Hub text embedding as a Keras 3 layer: a batch of strings → float ``[batch, dim]``.

    Args:
        handle: where the SavedModel lives (same forms as for :class:`HubEncoder`).
        trainable: whether ``fit`` updates the SavedModel's trainable variables (fine-tuning).
        trust: skip the scan of the SavedModel's ops (never saved in the layer's config).
        **kwargs: the usual Keras layer arguments (``name``, ...).

    ``training`` reaches the SavedModel when its ``__call__`` takes it (dropout); its
    ``regularization_losses`` are added while training.

    Example:
        >>> text = keras.Input(shape=(), dtype="string")
        >>> vectors = HubTextEmbedding(HANDLE, trainable=True)(text)
        >>> model = keras.Model(text, keras.layers.Dense(2, activation="softmax")(vectors))
    """

    def __init__(self, handle: handles.Handle, trainable: bool = False, trust: bool = False, **kwargs):
        super().__init__(handle, handles.load_text_embedding, trust, trainable=trainable, **kwargs)
        self._takes_training = takes_training(self._module)
        self._dimension = self._module.__call__.concrete_functions[0].structured_outputs.shape[-1]
        track_module_variables(self, self._module)
        self.built = True

    def call(self, inputs, training=None):
        texts = tf.reshape(tf.convert_to_tensor(inputs, tf.string), [-1])
        if self._takes_training:
            vectors = self._module(texts, training=bool(training))
        else:
            vectors = self._module(texts)
        if training and self.trainable:
            add_regularization_losses(self, self._module)
        return vectors

    def compute_output_spec(self, inputs):
        return keras.KerasTensor((inputs.shape[0], self._dimension), dtype="float32")


def pack_inputs(preprocessor, inputs, seq_length, pad_to_longest: bool, ragged_ops: bool = False) -> dict[str, tf.Tensor]:
    """The encoder's input dict for 1 or 2 batches of strings, from a TF-Hub preprocessor module.

    Packs to ``seq_length`` or, with ``pad_to_longest``, to the batch's longest input (at most
    ``seq_length``). With ``ragged_ops``, the ``tokenize`` output is packed by
    :func:`tfhub_llm.bert.preprocessing.pack_with_ragged_ops` (the same ids, from ops TF Serving 2.12+ has)
    instead of the module's own ``bert_pack_inputs``, and only ``tokenize`` is used. A pure function
    of its arguments, so a serving signature can choose its own padding and packing without
    touching a layer.
    """
    segments = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if len(segments) not in (1, 2):
        raise InvalidArgumentError(f"HubPreprocessor takes 1 or 2 batches of strings, got {len(segments)}.")
    tokenized = [preprocessor.tokenize(tf.reshape(segment, [-1])) for segment in segments]
    if pad_to_longest:
        seq_length = tf.minimum(seq_length, _longest_packed_length(tokenized))
    if ragged_ops:
        return pack_with_ragged_ops(tokenized, seq_length, preprocessor.tokenize.get_special_tokens_dict())
    return dict(preprocessor.bert_pack_inputs(tokenized, seq_length=seq_length))


def _longest_packed_length(tokenized):
    """Length of the longest packed input: all word pieces plus [CLS] and one [SEP] per segment."""
    lengths = [tf.cast(segment.merge_dims(1, -1).row_lengths(), tf.int32) for segment in tokenized]
    longest = tf.reduce_max(tf.add_n(lengths) + 1 + len(tokenized))
    return tf.maximum(longest, 1 + len(tokenized))


def _flat_tokens(tokens):
    """Ragged ``[batch, tokens]`` from ``[batch, tokens]``, ``[batch, tokens, 1]`` or ``[batch, words, pieces]``."""
    return tokens.merge_dims(1, -1) if tokens.shape.rank > 2 else tokens
