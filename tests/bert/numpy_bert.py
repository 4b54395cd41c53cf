"""Test helper: random Hugging Face-named BERT tensors and a plain numpy BERT forward pass over them.

An independent reference (HF weight layout, numpy maths) for the Keras encoder and the converter.
"""

import math

import numpy as np


def random_hf_tensors(config, seed=0, with_mlm=False):
    """``{HF tensor name: float32 array}`` for ``config`` (a BertConfig), as BertModel/BertForPreTraining name them."""
    rng = np.random.default_rng(seed)
    hidden, inner = config.hidden_size, config.intermediate_size

    def normal(*shape):
        return rng.normal(0.0, 0.2, shape).astype(np.float32)

    tensors = {
        "embeddings.word_embeddings.weight": normal(config.vocab_size, hidden),
        "embeddings.position_embeddings.weight": normal(config.max_position_embeddings, hidden),
        "embeddings.token_type_embeddings.weight": normal(config.type_vocab_size, hidden),
        "embeddings.LayerNorm.weight": 1 + normal(hidden), "embeddings.LayerNorm.bias": normal(hidden),
        "pooler.dense.weight": normal(hidden, hidden), "pooler.dense.bias": normal(hidden),
    }
    for i in range(config.num_layers):
        p = f"encoder.layer.{i}."
        for part in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            tensors[p + part + ".weight"], tensors[p + part + ".bias"] = normal(hidden, hidden), normal(hidden)
        tensors[p + "intermediate.dense.weight"], tensors[p + "intermediate.dense.bias"] = normal(inner, hidden), normal(inner)
        tensors[p + "output.dense.weight"], tensors[p + "output.dense.bias"] = normal(hidden, inner), normal(hidden)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[p + norm + ".weight"], tensors[p + norm + ".bias"] = 1 + normal(hidden), normal(hidden)
    if with_mlm:
        tensors["cls.predictions.transform.dense.weight"] = normal(hidden, hidden)
        tensors["cls.predictions.transform.dense.bias"] = normal(hidden)
        tensors["cls.predictions.transform.LayerNorm.weight"] = 1 + normal(hidden)
        tensors["cls.predictions.transform.LayerNorm.bias"] = normal(hidden)
        tensors["cls.predictions.bias"] = normal(config.vocab_size)
    return tensors


def _layer_norm(x, t, prefix, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * t[prefix + ".weight"] + t[prefix + ".bias"]


def _linear(x, t, prefix):
    return x @ t[prefix + ".weight"].T + t[prefix + ".bias"]


_erf = np.vectorize(math.erf)


def _gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def hf_bert_forward(t, config, word_ids, mask, type_ids, masked_positions=None):
    """``(sequence_output, pooled_output, encoder_outputs, mlm_logits or None)`` in float64 numpy."""
    t = {k: v.astype(np.float64) for k, v in t.items()}
    eps, heads, size = config.layer_norm_epsilon, config.num_heads, config.head_size
    batch, seq = word_ids.shape
    x = (t["embeddings.word_embeddings.weight"][word_ids] + t["embeddings.position_embeddings.weight"][:seq][None]
         + t["embeddings.token_type_embeddings.weight"][type_ids])
    x = _layer_norm(x, t, "embeddings.LayerNorm", eps)
    additive_mask = (1.0 - mask[:, None, None, :]) * -1e9
    layers = []
    for i in range(config.num_layers):
        p = f"encoder.layer.{i}."

        def split(h):
            return h.reshape(batch, seq, heads, size).transpose(0, 2, 1, 3)

        q, k, v = (split(_linear(x, t, p + f"attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(size) + additive_mask
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, heads * size)
        x = _layer_norm(x + _linear(context, t, p + "attention.output.dense"), t, p + "attention.output.LayerNorm", eps)
        inner = _gelu(_linear(x, t, p + "intermediate.dense"))
        x = _layer_norm(x + _linear(inner, t, p + "output.dense"), t, p + "output.LayerNorm", eps)
        layers.append(x)
    pooled = np.tanh(_linear(x[:, 0], t, "pooler.dense"))
    logits = None
    if masked_positions is not None:
        gathered = np.take_along_axis(x, masked_positions[..., None], axis=1)
        h = _layer_norm(_gelu(_linear(gathered, t, "cls.predictions.transform.dense")), t,
                        "cls.predictions.transform.LayerNorm", eps)
        logits = h @ t["embeddings.word_embeddings.weight"].T + t["cls.predictions.bias"]
    return x, pooled, layers, logits
