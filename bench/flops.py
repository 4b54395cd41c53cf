"""Matrix-multiply FLOPs of a BERT encoder, for the real token counts of a batch.

Counts the multiply-adds (2 FLOPs each) of every matmul the encoder runs: per layer, the query,
key, value and output projections (4 h x h), the two feed-forward matrices (h x i and i x h), and
attention scores and context (2 L x L x h per sequence); then the pooler (h x h on [CLS]).
Embedding lookups, LayerNorm, softmax and GELU are left out: they are not matmuls.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class EncoderShape:
    num_layers: int
    hidden_size: int
    intermediate_size: int


MINILM_L6_H384 = EncoderShape(num_layers=6, hidden_size=384, intermediate_size=1536)


def encoder_flops(shape, batch_size, seq_length):
    """Matmul FLOPs of one encoder call on a ``[batch_size, seq_length]`` batch."""
    if batch_size < 0 or seq_length < 0:
        raise ValueError(f"batch_size and seq_length must be >= 0, got {batch_size} and {seq_length}")
    h, i = shape.hidden_size, shape.intermediate_size
    tokens = batch_size * seq_length
    projections = 2 * tokens * (4 * h * h + 2 * h * i)
    attention = 2 * 2 * batch_size * seq_length * seq_length * h
    pooler = 2 * batch_size * h * h
    return shape.num_layers * (projections + attention) + pooler


def useful_flops(shape, lengths):
    """FLOPs of encoding each sequence at its own length (``lengths``: tokens per sequence), no padding."""
    return sum(encoder_flops(shape, 1, length) for length in lengths)
