"""The package's own BERT encoder as a Keras 3 model.

Embeddings (word + position + segment, LayerNorm, dropout), post-LayerNorm transformer layers with
exact-erf GELU, a tanh pooler on the first ([CLS]) token and, when ``config.with_mlm``, a
masked-language-model head tied to the word embeddings. The transformer layers keep Keras'
``MultiHeadAttention`` and ``Dense`` layers as the owners of their weights, but compute on the
batch's real tokens only, as ``[tokens, width]`` (padding is gathered out after the embeddings, so the
dense layers skip it; only the attention scores are laid out padded, and gathers move the heads between the two
layouts with no transpose), with 2-D matmuls followed by a
bias add (and GELU), the pattern TensorFlow's CPU graph rewrite fuses into one oneDNN matmul. With
``config.compute_dtype="bfloat16"`` those matmuls (and GELU) run in bfloat16 from float32 weights;
residual sums, LayerNorms and the attention softmax stay float32. Inputs and outputs follow the TF-Hub BERT
encoder contract: a dict of int32 ``input_word_ids`` / ``input_mask`` / ``input_type_ids`` in,
``pooled_output`` / ``sequence_output`` / ``encoder_outputs`` / ``default`` out, the sequences zero where
``input_mask`` is 0 (but for each row's first position, which is always computed). Any sequence length up to
``config.max_position_embeddings`` works.
"""

import dataclasses

import keras
import tensorflow as tf
from keras import ops

from tfhub_llm.bert.config import BertConfig
from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.hub.limits import check_config_sizes
from tfhub_llm.hub_contract import ENCODER_INPUT_KEYS


def _exact_gelu(x):
    return keras.activations.gelu(x, approximate=False)


def _initializer(config):
    return keras.initializers.TruncatedNormal(stddev=config.initializer_range)


class BertEmbeddings(keras.layers.Layer):
    """Word + position + segment embeddings, then LayerNorm and dropout."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        init = _initializer(config)
        self.word_embeddings = keras.layers.Embedding(
            config.vocab_size, config.hidden_size, embeddings_initializer=init, name="word_embeddings")
        self.position_embedding = keras.layers.Embedding(
            config.max_position_embeddings, config.hidden_size, embeddings_initializer=init,
            name="position_embedding")
        self.type_embeddings = keras.layers.Embedding(
            config.type_vocab_size, config.hidden_size, embeddings_initializer=init, name="type_embeddings")
        self.layer_norm = keras.layers.LayerNormalization(epsilon=config.layer_norm_epsilon, name="layer_norm")
        self.dropout = keras.layers.Dropout(config.hidden_dropout)
        self.config = config

    def build(self, input_shape):
        for embedding in (self.word_embeddings, self.position_embedding, self.type_embeddings):
            embedding.build(None)
        self.layer_norm.build((None, None, self.config.hidden_size))

    def call(self, word_ids, type_ids, training=None):
        positions = ops.arange(ops.shape(word_ids)[1], dtype="int32")
        summed = (self.word_embeddings(word_ids) + self.position_embedding(positions)[None]
                  + self.type_embeddings(type_ids))
        return self.dropout(_layer_norm(self.layer_norm, summed), training=training)


class TransformerLayer(keras.layers.Layer):
    """One post-LayerNorm BERT block: self-attention, add & norm, GELU feed-forward, add & norm."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        init = _initializer(config)
        self.self_attention = keras.layers.MultiHeadAttention(
            config.num_heads, config.head_size, kernel_initializer=init, name="self_attention")
        self.attention_dropout = keras.layers.Dropout(config.hidden_dropout)
        self.self_attention_layer_norm = keras.layers.LayerNormalization(
            epsilon=config.layer_norm_epsilon, name="self_attention_layer_norm")
        self.intermediate = keras.layers.Dense(
            config.intermediate_size, activation=_exact_gelu, kernel_initializer=init, name="intermediate")
        self.output_dense = keras.layers.Dense(config.hidden_size, kernel_initializer=init, name="output")
        self.output_dropout = keras.layers.Dropout(config.hidden_dropout)
        self.output_layer_norm = keras.layers.LayerNormalization(
            epsilon=config.layer_norm_epsilon, name="output_layer_norm")
        self.attention_probs_dropout = keras.layers.Dropout(config.attention_dropout)
        self.config = config

    def build(self, input_shape):
        width = input_shape[-1]
        self.self_attention.build((None, None, width), (None, None, width))
        self.self_attention_layer_norm.build((None, width))
        self.intermediate.build((None, width))
        self.output_dense.build((None, self.intermediate.units))
        self.output_layer_norm.build((None, width))

    def call(self, tokens, attention_bias, layout, training=None):
        """``tokens``: ``[tokens, width]``, the batch's real tokens; ``layout``: a :class:`TokenLayout` of them."""
        attended = self._self_attention(tokens, attention_bias, layout, training)
        tokens = _layer_norm(self.self_attention_layer_norm, tokens + self.attention_dropout(attended, training=training))
        feed_forward = _dense(self.output_dense, _dense(self.intermediate, tf.cast(tokens, self.config.compute_dtype)))
        feed_forward = tf.cast(feed_forward, tokens.dtype)
        return _layer_norm(self.output_layer_norm, tokens + self.output_dropout(feed_forward, training=training))

    def _self_attention(self, tokens, attention_bias, layout, training):
        """``MultiHeadAttention``'s result for ``tokens``, from its own weights; the heads are laid out padded."""
        attention, config = self.self_attention, self.config
        inputs = tf.cast(tokens, config.compute_dtype)

        def heads(dense):  # [batch, heads, length, head_size], gathered straight from [tokens * heads, head_size]
            return tf.gather(tf.reshape(_dense(dense, inputs), [-1, config.head_size]), layout.head_index)

        scores = tf.matmul(heads(attention.query_dense), heads(attention.key_dense), transpose_b=True)
        # [batch, heads, length, length]; matmul, scale and bias add: one fused batch matmul on CPU.
        scores = tf.cast(scores, tokens.dtype) * (1.0 / config.head_size ** 0.5) + attention_bias
        probabilities = self.attention_probs_dropout(tf.nn.softmax(scores), training=training)
        context = tf.matmul(tf.cast(probabilities, config.compute_dtype), heads(attention.value_dense))
        # Each real token's heads, side by side: [tokens, heads, head_size] → [tokens, width].
        context = tf.gather(tf.reshape(context, [-1, config.head_size]), layout.token_head_index)
        context = tf.reshape(context, [-1, config.hidden_size])
        return tf.cast(_dense(attention.output_dense, context), tokens.dtype)


class TokenLayout:
    """Where a batch's real tokens are, so only they go through the dense layers, and how attention reads them.

    ``token_positions`` (``[tokens]``) are the flat ``batch * length`` positions computed on: every unmasked one
    and each row's first, so no row is empty. ``head_index`` (``[batch, heads, length]``) picks, from a projection
    of the tokens viewed as ``[tokens * heads, head_size]``, each head's vector at every padded position: its own
    token's, or for padding the last token's before it in its row (attention masks those keys).
    ``token_head_index`` (``[tokens, heads]``) picks each real token's heads back out of the attention's
    ``[batch * heads * length, head_size]`` result. Gathers in these layouts replace the transposes between
    token-major and head-major order: one copy instead of two, and no transpose kernel per layer.
    """

    def __init__(self, input_mask, num_heads):
        length = tf.shape(input_mask)[1]
        keep = tf.logical_or(tf.not_equal(input_mask, 0), tf.equal(tf.range(length), 0)[None])
        keep = tf.reshape(keep, [-1])
        self.token_positions = tf.cast(tf.where(keep)[:, 0], tf.int32)
        padded_index = tf.reshape(tf.cumsum(tf.cast(keep, tf.int32)) - 1, tf.shape(input_mask))
        heads = tf.range(num_heads)
        # ExpandDims and Reshape rather than [:, None] slicing: TFLite's StridedSlice takes no new axes.
        self.head_index = tf.expand_dims(padded_index, 1) * num_heads + tf.reshape(heads, [1, -1, 1])
        row, position = self.token_positions // length, self.token_positions % length
        self.token_head_index = ((tf.expand_dims(row, 1) * num_heads + tf.expand_dims(heads, 0)) * length
                                 + tf.expand_dims(position, 1))


def _dense(layer, inputs):
    """``layer`` (a ``Dense``, or one of attention's ``EinsumDense``s) on 2-D ``inputs``: matmul, bias add and
    activation in the inputs' dtype (the weights are cast to it)."""
    kernel = tf.cast(tf.reshape(layer.kernel, [inputs.shape[-1], -1]), inputs.dtype)
    bias = tf.cast(tf.reshape(layer.bias, [-1]), inputs.dtype)
    return layer.activation(tf.nn.bias_add(tf.matmul(inputs, kernel), bias))


def _layer_norm(layer, inputs):
    """``layer`` (a ``LayerNormalization`` over the last axis, which owns gamma and beta) on ``inputs``, in
    fewer full-size passes than Keras' own ops: ``(x - mean) * (rsqrt(variance + epsilon) * gamma) + beta``."""
    mean = tf.reduce_mean(inputs, -1, keepdims=True)
    centered = inputs - mean
    variance = tf.reduce_mean(tf.square(centered), -1, keepdims=True)
    return centered * (tf.math.rsqrt(variance + layer.epsilon) * layer.gamma) + layer.beta


class MaskedLMHead(keras.layers.Layer):
    """BERT's masked-LM head: dense + GELU + LayerNorm, then logits through the tied word embeddings."""

    def __init__(self, config, word_embeddings, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.word_embeddings = word_embeddings
        self.transform = keras.layers.Dense(
            config.hidden_size, activation=_exact_gelu, kernel_initializer=_initializer(config), name="transform")
        self.layer_norm = keras.layers.LayerNormalization(epsilon=config.layer_norm_epsilon, name="layer_norm")

    def build(self, input_shape):
        self.transform.build(input_shape)
        self.layer_norm.build(input_shape)
        self.output_bias = self.add_weight(
            shape=(self.config.vocab_size,), initializer="zeros", name="output_bias")

    def call(self, sequence_output, masked_positions):
        gathered = ops.take_along_axis(sequence_output, ops.expand_dims(masked_positions, -1), axis=1)
        hidden = _layer_norm(self.layer_norm, self.transform(gathered))
        return ops.matmul(hidden, ops.transpose(self.word_embeddings.embeddings)) + self.output_bias


@keras.saving.register_keras_serializable(package="tfhub_llm")
class BertEncoder(keras.Model):
    """A BERT encoder: ``call(inputs, training)`` maps the 3-key int32 dict to the TF-Hub outputs.

    ``masked_lm(inputs, training)`` (only when ``config.with_mlm``) also takes
    ``inputs["masked_lm_positions"]`` (int32 ``[batch, num_predictions]``) and adds ``mlm_logits``
    (``[batch, num_predictions, vocab_size]``).
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.embeddings = BertEmbeddings(config, name="embeddings")
        self.transformer_layers = [TransformerLayer(config, name=f"layer_{i}") for i in range(config.num_layers)]
        self.pooler_transform = keras.layers.Dense(
            config.hidden_size, activation="tanh", kernel_initializer=_initializer(config), name="pooler_transform")
        self.mlm_head = (MaskedLMHead(config, self.embeddings.word_embeddings, name="mlm")
                         if config.with_mlm else None)

    def call(self, inputs, training=None):
        x = self.embeddings(inputs["input_word_ids"], inputs["input_type_ids"], training=training)
        batch, length, width = tf.shape(x)[0], tf.shape(x)[1], x.shape[-1]
        # Added to every layer's attention scores: 0 for real keys, -1e9 for padding; [batch, 1, 1 (queries), keys].
        padding = 1.0 - tf.cast(inputs["input_mask"], x.dtype)
        attention_bias = tf.expand_dims(tf.expand_dims(padding, 1), 1) * -1e9  # ExpandDims: a TFLite builtin
        layout = TokenLayout(inputs["input_mask"], self.config.num_heads)
        tokens = tf.gather(tf.reshape(x, [-1, width]), layout.token_positions)
        encoder_outputs = []
        for layer in self.transformer_layers:
            tokens = layer(tokens, attention_bias, layout=layout, training=training)
            # [batch, length, width], zeros at padding
            padded = tf.scatter_nd(layout.token_positions[:, None], tokens, tf.stack([batch * length, width]))
            encoder_outputs.append(tf.reshape(padded, [batch, length, width]))
        x = encoder_outputs[-1]
        pooled = self.pooler_transform(x[:, 0, :])
        return {"pooled_output": pooled, "sequence_output": x, "encoder_outputs": encoder_outputs, "default": pooled}

    def masked_lm(self, inputs, training=None):
        """The encoder outputs plus ``mlm_logits`` at ``inputs["masked_lm_positions"]``."""
        if self.mlm_head is None:
            raise InvalidArgumentError("this BertEncoder was built without an MLM head (BertConfig.with_mlm=False)")
        outputs = self.call(inputs, training=training)
        positions = ops.cast(inputs["masked_lm_positions"], "int32")
        return {**outputs, "mlm_logits": self.mlm_head(outputs["sequence_output"], positions)}

    def get_config(self):
        return {**super().get_config(), "config": dataclasses.asdict(self.config)}

    @classmethod
    def from_config(cls, config):
        check_config_sizes(config, f"the saved {cls.__name__}")
        config = dict(config)
        return cls(BertConfig(**config.pop("config")), **config)


def build_bert_encoder(config, seed=None):
    """Creates a :class:`BertEncoder` with all its variables (random init; ``seed`` makes it repeatable)."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    encoder = BertEncoder(config, name="bert_encoder")
    dummy = {key: ops.zeros((1, 2), "int32") for key in ENCODER_INPUT_KEYS}
    if config.with_mlm:
        encoder.masked_lm({**dummy, "masked_lm_positions": ops.zeros((1, 1), "int32")})
    else:
        encoder(dummy)
    return encoder
