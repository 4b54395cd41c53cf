"""Hugging Face BERT checkpoint directory → TF-Hub-format ``encoder/`` and ``preprocessor/``.

Reads ``config.json``, ``model.safetensors`` (or a sharded ``model.safetensors.index.json``) through
``safetensors.numpy`` (no torch), ``vocab.txt`` and ``tokenizer_config.json``; refuses what this
BERT cannot reproduce (RoBERTa, ALBERT's shared layers, relative position embeddings, approximate
GELU, missing files, shape mismatches) with an error naming the file and the field or tensor.
"""

import json
import pathlib

import numpy as np
from safetensors.numpy import load_file

from tfhub_llm.errors import TargetExistsError, TfhubLlmError
from tfhub_llm.bert.config import BertConfig
from tfhub_llm.bert.encoder import build_bert_encoder
from tfhub_llm.atomic import atomic_directory
from tfhub_llm.bert.export import save_encoder, save_preprocessor
from tfhub_llm.bert.preprocessing import BertPreprocessor, read_vocab

_ROBERTA_FAMILY = ("roberta", "xlm-roberta", "camembert", "longformer", "deberta", "deberta-v2")
_HEAD_PREFIXES = ("cls.seq_relationship.", "classifier.", "qa_outputs.")


class ConversionError(TfhubLlmError, ValueError):
    """A Hugging Face checkpoint that this converter cannot turn into an equivalent BERT."""


def _read_json(path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ConversionError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from error


def _require(path):
    if not path.is_file():
        raise ConversionError(f"{path} is missing; a Hugging Face BERT directory needs it")
    return path


def bert_config_from_hf(config_path):
    """A :class:`BertConfig` from a Hugging Face ``config.json``, refusing non-BERT architectures."""
    hf = _read_json(config_path)
    model_type = hf.get("model_type")
    if model_type in _ROBERTA_FAMILY:
        raise ConversionError(
            f"{config_path}: model_type {model_type!r} is a RoBERTa-family model (byte-level BPE tokenizer, "
            "position ids offset by the padding index); only model_type 'bert' is supported")
    if model_type == "albert" or "num_hidden_groups" in hf or hf.get("embedding_size", hf.get("hidden_size")) != hf.get(
            "hidden_size"):
        raise ConversionError(
            f"{config_path}: ALBERT-style checkpoints (shared layer groups, factorised embeddings) are not "
            "supported; only model_type 'bert' is")
    if model_type != "bert":
        raise ConversionError(f"{config_path}: model_type is {model_type!r}; only 'bert' is supported")
    position_type = hf.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise ConversionError(
            f"{config_path}: position_embedding_type {position_type!r} (relative position embeddings) is not "
            "supported; only 'absolute' is")
    if hf.get("hidden_act", "gelu") != "gelu":
        raise ConversionError(
            f"{config_path}: hidden_act {hf['hidden_act']!r} is not supported; this BERT uses exact-erf 'gelu'")
    fields = {"vocab_size": "vocab_size", "hidden_size": "hidden_size", "num_layers": "num_hidden_layers",
              "num_heads": "num_attention_heads", "intermediate_size": "intermediate_size"}
    missing = [hf_name for hf_name in fields.values() if hf_name not in hf]
    if missing:
        raise ConversionError(f"{config_path}: missing fields {missing}")
    try:
        return BertConfig(
            **{name: hf[hf_name] for name, hf_name in fields.items()},
            max_position_embeddings=hf.get("max_position_embeddings", 512),
            type_vocab_size=hf.get("type_vocab_size", 2),
            hidden_dropout=hf.get("hidden_dropout_prob", 0.1),
            attention_dropout=hf.get("attention_probs_dropout_prob", 0.1),
            layer_norm_epsilon=hf.get("layer_norm_eps", 1e-12),
            initializer_range=hf.get("initializer_range", 0.02))
    except ValueError as error:
        raise ConversionError(f"{config_path}: {error}") from error


def do_lower_case_from_hf(src_dir, hf_config):
    """``do_lower_case`` from ``tokenizer_config.json``; else False only for names saying "cased"."""
    tokenizer_config_path = src_dir / "tokenizer_config.json"
    tokenizer_config = _read_json(tokenizer_config_path) if tokenizer_config_path.is_file() else {}
    if "do_lower_case" in tokenizer_config:
        lower_case = bool(tokenizer_config["do_lower_case"])
    else:
        name = str(hf_config.get("_name_or_path") or src_dir.name).lower()
        lower_case = "uncased" in name or "cased" not in name
    strip_accents = tokenizer_config.get("strip_accents")
    if strip_accents is not None and bool(strip_accents) != lower_case:
        raise ConversionError(
            f"{tokenizer_config_path}: strip_accents={strip_accents} with do_lower_case={lower_case} is not "
            "supported; TF Text's BertTokenizer strips accents exactly when it lower-cases")
    if tokenizer_config.get("tokenize_chinese_chars", True) is not True:
        raise ConversionError(
            f"{tokenizer_config_path}: tokenize_chinese_chars=false is not supported; TF Text's BertTokenizer "
            "always splits CJK characters")
    return lower_case


def read_hf_weights(src_dir):
    """``({tensor name: array}, file name)`` from model.safetensors or its sharded index, names without "bert."."""
    single, index = src_dir / "model.safetensors", src_dir / "model.safetensors.index.json"
    if single.is_file():
        files, tensors = single.name, load_file(str(single))
    elif index.is_file():
        shards = sorted(set(_read_json(index).get("weight_map", {}).values()))
        if not shards:
            raise ConversionError(f"{index}: weight_map lists no shards")
        tensors = {}
        for shard in shards:
            tensors.update(load_file(str(_require(src_dir / shard))))
        files = ", ".join(shards)
    elif (src_dir / "pytorch_model.bin").is_file():
        raise ConversionError(
            f"{src_dir / 'pytorch_model.bin'} is a torch pickle, which this converter does not read (it imports "
            "no torch); save the model as model.safetensors (model.save_pretrained(dir, safe_serialization=True))")
    else:
        raise ConversionError(f"{src_dir} has no model.safetensors (nor model.safetensors.index.json)")
    renamed = {}
    for name, value in tensors.items():
        name = name.removeprefix("bert.").replace("LayerNorm.gamma", "LayerNorm.weight").replace(
            "LayerNorm.beta", "LayerNorm.bias")
        if "distance_embedding" in name:
            raise ConversionError(f"{files}: tensor {name!r} is a relative position embedding; not supported")
        renamed[name] = value
    return renamed, files


def _dense(weight):
    return weight.T


def _attention_in(config):
    return lambda weight: weight.T.reshape(config.hidden_size, config.num_heads, config.head_size)


def _attention_bias(config):
    return lambda bias: bias.reshape(config.num_heads, config.head_size)


def _attention_out(config):
    return lambda weight: weight.T.reshape(config.num_heads, config.head_size, config.hidden_size)


def _same(value):
    return value


def _layer_norm(prefix, layer):
    return [(f"{prefix}.weight", (layer.gamma.shape[0],), layer.gamma, _same),
            (f"{prefix}.bias", (layer.beta.shape[0],), layer.beta, _same)]


def _dense_pair(prefix, dense, transform=_dense, bias_transform=_same, hf_shape=None):
    kernel_shape = hf_shape or tuple(reversed(dense.kernel.shape))
    return [(f"{prefix}.weight", kernel_shape, dense.kernel, transform),
            (f"{prefix}.bias", (int(np.prod(dense.bias.shape)),), dense.bias, bias_transform)]


def weight_plan(encoder):
    """``[(hf tensor name, hf shape, keras variable, hf→keras transform)]`` for every encoder weight."""
    config = encoder.config
    hidden = config.hidden_size
    embeddings = encoder.embeddings
    plan = [
        ("embeddings.word_embeddings.weight", (config.vocab_size, hidden),
         embeddings.word_embeddings.embeddings, _same),
        ("embeddings.position_embeddings.weight", (config.max_position_embeddings, hidden),
         embeddings.position_embedding.embeddings, _same),
        ("embeddings.token_type_embeddings.weight", (config.type_vocab_size, hidden),
         embeddings.type_embeddings.embeddings, _same),
        *_layer_norm("embeddings.LayerNorm", embeddings.layer_norm),
    ]
    for i, layer in enumerate(encoder.transformer_layers):
        prefix = f"encoder.layer.{i}"
        attention = layer.self_attention
        for part, dense in (("query", attention.query_dense), ("key", attention.key_dense),
                            ("value", attention.value_dense)):
            plan += _dense_pair(f"{prefix}.attention.self.{part}", dense, _attention_in(config),
                                _attention_bias(config), hf_shape=(hidden, hidden))
        plan += _dense_pair(f"{prefix}.attention.output.dense", attention.output_dense, _attention_out(config),
                            hf_shape=(hidden, hidden))
        plan += _layer_norm(f"{prefix}.attention.output.LayerNorm", layer.self_attention_layer_norm)
        plan += _dense_pair(f"{prefix}.intermediate.dense", layer.intermediate)
        plan += _dense_pair(f"{prefix}.output.dense", layer.output_dense)
        plan += _layer_norm(f"{prefix}.output.LayerNorm", layer.output_layer_norm)
    plan += _dense_pair("pooler.dense", encoder.pooler_transform)
    if encoder.mlm_head is not None:
        head = encoder.mlm_head
        plan += _dense_pair("cls.predictions.transform.dense", head.transform)
        plan += _layer_norm("cls.predictions.transform.LayerNorm", head.layer_norm)
        plan.append(("cls.predictions.bias", (config.vocab_size,), head.output_bias, _same))
    return plan


def load_hf_weights(encoder, tensors, source_name):
    """Assigns Hugging Face tensors to ``encoder``'s variables, checking every name and shape first."""
    plan = weight_plan(encoder)
    missing = [name for name, *_ in plan if name not in tensors]
    if missing:
        raise ConversionError(f"{source_name}: missing tensors {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    for name, shape, _, _ in plan:
        if tuple(tensors[name].shape) != shape:
            raise ConversionError(
                f"{source_name}: tensor {name!r} has shape {tuple(tensors[name].shape)}, config.json implies {shape}")
    for name, _, variable, transform in plan:
        variable.assign(transform(tensors[name].astype(np.float32)))


def convert_hf_bert(src_dir, out_dir, progress=print, overwrite=False, compute_dtype="float32"):
    """Converts a Hugging Face BERT directory into ``out_dir/encoder`` and ``out_dir/preprocessor``.

    Args:
        src_dir: holds config.json, model.safetensors, vocab.txt and (optionally) tokenizer_config.json.
        out_dir: created atomically; an existing empty folder is filled, anything else there is
            replaced only with ``overwrite=True``.
        progress: called with one line per stage.
        compute_dtype: ``"bfloat16"`` makes an encoder whose transformer matmuls run in bfloat16
            from its float32 weights (see :class:`BertConfig`), for CPUs with AVX512-BF16 / AMX.

    Returns:
        ``out_dir`` as a ``pathlib.Path``.
    """
    src_dir, out_dir = pathlib.Path(src_dir), pathlib.Path(out_dir)
    if not src_dir.is_dir():
        raise ConversionError(f"{src_dir} is not a directory")
    # The target is checked on entry, before the slow reading, and again before the rename.
    with atomic_directory(out_dir, overwrite=overwrite, exists_error=_target_exists) as staging:
        encoder, vocab_path, do_lower_case = _read_hf_bert(src_dir, compute_dtype, progress)
        progress(f"[4/5] exporting encoder to {out_dir / 'encoder'}")
        save_encoder(encoder, staging / "encoder", vocab_path, do_lower_case)
        progress(f"[5/5] exporting preprocessor to {out_dir / 'preprocessor'}")
        save_preprocessor(BertPreprocessor(vocab_path, do_lower_case), staging / "preprocessor")
    progress(f"done: {out_dir}")
    return out_dir


def _target_exists(out_dir):
    return TargetExistsError(f"{out_dir} already exists and is not empty; pass overwrite=True "
                             "(tfhub-llm convert --overwrite) to replace it")


def _read_hf_bert(src_dir, compute_dtype, progress):
    """Steps 1-3 of :func:`convert_hf_bert`: the encoder with the folder's weights, its vocab file and casing."""
    config_path = _require(src_dir / "config.json")
    progress(f"[1/5] reading {config_path}")
    config = bert_config_from_hf(config_path)
    do_lower_case = do_lower_case_from_hf(src_dir, _read_json(config_path))
    vocab_path = _require(src_dir / "vocab.txt")
    try:
        vocab_size = len(read_vocab(vocab_path))
    except ValueError as error:
        raise ConversionError(str(error)) from error
    if vocab_size > config.vocab_size:
        raise ConversionError(
            f"{vocab_path} has {vocab_size} tokens but config.json's vocab_size is {config.vocab_size}")
    progress(f"[2/5] reading weights from {src_dir}")
    tensors, source_name = read_hf_weights(src_dir)
    config = BertConfig(**{**config.__dict__, "with_mlm": "cls.predictions.bias" in tensors,
                           "compute_dtype": compute_dtype})
    progress(f"[3/5] building BERT: {config.num_layers} layers, hidden {config.hidden_size}, "
             f"{config.num_heads} heads, MLM head: {config.with_mlm}, do_lower_case: {do_lower_case}, "
             f"matmuls in {config.compute_dtype}")
    encoder = build_bert_encoder(config)
    load_hf_weights(encoder, tensors, f"{src_dir / source_name}")
    return encoder, vocab_path, do_lower_case
