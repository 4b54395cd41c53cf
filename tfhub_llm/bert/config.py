"""The hyper-parameters of a BERT encoder: one dataclass, validated on creation."""

import dataclasses

from tfhub_llm.errors import InvalidArgumentError

COMPUTE_DTYPES = ("float32", "bfloat16")


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """Shape and regularisation of a BERT encoder (the names follow the BERT paper).

    ``with_mlm`` adds a masked-language-model head whose decoder is tied to the word embeddings.
    ``compute_dtype="bfloat16"`` runs the transformer layers' matmuls in bfloat16 (for CPUs with
    AVX512-BF16 / AMX) while the weights, embeddings, LayerNorms and outputs stay float32.
    """

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    hidden_dropout: float = 0.1
    attention_dropout: float = 0.1
    layer_norm_epsilon: float = 1e-12
    initializer_range: float = 0.02
    with_mlm: bool = False
    compute_dtype: str = "float32"

    def __post_init__(self):
        for field in ("vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size",
                      "max_position_embeddings", "type_vocab_size"):
            value = getattr(self, field)
            if not isinstance(value, int) or value <= 0:
                raise InvalidArgumentError(f"BertConfig.{field} must be a positive int, got {value!r}")
        if self.hidden_size % self.num_heads:
            raise InvalidArgumentError(
                f"BertConfig.hidden_size ({self.hidden_size}) must be divisible by "
                f"num_heads ({self.num_heads})")
        for field in ("hidden_dropout", "attention_dropout"):
            if not 0.0 <= getattr(self, field) < 1.0:
                raise InvalidArgumentError(f"BertConfig.{field} must be in [0, 1), got {getattr(self, field)!r}")
        if self.compute_dtype not in COMPUTE_DTYPES:
            raise InvalidArgumentError(
                f"BertConfig.compute_dtype must be one of {COMPUTE_DTYPES}, got {self.compute_dtype!r}")

    @property
    def head_size(self):
        """Width of one attention head."""
        return self.hidden_size // self.num_heads
