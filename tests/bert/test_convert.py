"""Hugging Face BERT directory → TF-Hub pair: outputs against numpy BERT, and every refusal."""

import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub as hub
import tensorflow_text  # noqa: E402,F401  (registers the preprocessor's ops)
from safetensors.numpy import save_file

from tests.bert.numpy_bert import hf_bert_forward, random_hf_tensors
from tfhub_llm.bert import BertConfig, ConversionError, convert_hf_bert
from tfhub_llm.layers.hub_layers import HubEncoder

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "##s", ".", ",", "a"]
CONFIG = BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_layers=2, num_heads=2, intermediate_size=32,
                    max_position_embeddings=40)
HF_CONFIG = {"model_type": "bert", "architectures": ["BertForPreTraining"], "vocab_size": CONFIG.vocab_size,
             "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32,
             "max_position_embeddings": 40, "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
             "position_embedding_type": "absolute"}


def make_hf_dir(path, config=None, tensors=None, tokenizer_config=None, prefix=""):
    """Writes a tiny Hugging Face BERT directory; returns ``(path, tensors without prefix)``."""
    path.mkdir(parents=True, exist_ok=True)
    tensors = random_hf_tensors(CONFIG, seed=1, with_mlm=True) if tensors is None else tensors
    (path / "config.json").write_text(json.dumps({**HF_CONFIG, **(config or {})}))
    (path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    (path / "tokenizer_config.json").write_text(json.dumps(tokenizer_config or {"do_lower_case": True}))
    save_file({prefix + name: value for name, value in tensors.items()}, str(path / "model.safetensors"))
    return path, tensors


def _inputs():
    word_ids = np.array([[2, 5, 6, 7, 8, 5, 9, 10, 11, 3], [2, 13, 6, 3, 0, 0, 0, 0, 0, 0]], np.int32)
    mask = (word_ids > 0).astype(np.int32)
    type_ids = np.array([[0] * 5 + [1] * 5, [0] * 10], np.int32)
    return word_ids, mask, type_ids


def test_converted_pair_matches_numpy_bert(tmp_path):
    src, tensors = make_hf_dir(tmp_path / "tiny-bert-uncased", prefix="bert.")
    lines = []
    out = convert_hf_bert(src, tmp_path / "out", progress=lines.append)
    assert [line[:5] for line in lines] == ["[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]", "done:"]
    encoder = hub.load(str(out / "encoder"))
    word_ids, mask, type_ids = _inputs()
    inputs = {"input_word_ids": word_ids, "input_mask": mask, "input_type_ids": type_ids}
    positions = np.array([[1, 2], [2, 0]], np.int32)
    outputs = encoder.mlm({**inputs, "masked_lm_positions": positions}, training=False)
    sequence, pooled, _, logits = hf_bert_forward(tensors, CONFIG, word_ids, mask, type_ids, positions)
    unmasked = mask.astype(bool)
    assert np.abs(outputs["sequence_output"].numpy()[unmasked] - sequence[unmasked]).max() < 1e-4
    assert np.abs(outputs["pooled_output"].numpy() - pooled).max() < 1e-4
    assert np.abs(outputs["mlm_logits"].numpy() - logits).max() < 1e-3
    assert bool(encoder.do_lower_case.numpy()) is True
    preprocessor = hub.load(str(out / "preprocessor"))
    packed = preprocessor(tf.constant(["The cats sat."]))
    assert packed["input_word_ids"].numpy()[0, :7].tolist() == [2, 5, 6, 10, 7, 11, 3]


def test_bfloat16_compute_conversion_is_close_passes_the_scan_and_keeps_float32_weights(tmp_path):
    src, tensors = make_hf_dir(tmp_path / "tiny-bert-uncased")
    lines = []
    out = convert_hf_bert(src, tmp_path / "out", progress=lines.append, compute_dtype="bfloat16")
    assert "matmuls in bfloat16" in lines[2]
    layer = HubEncoder(str(out / "encoder"))  # scanned: the bfloat16 casts and matmuls are allowed ops
    dtypes = {str(variable.dtype) for variable in layer.weights}
    assert "float32" in dtypes and "bfloat16" not in dtypes  # float32 master weights
    word_ids, mask, type_ids = _inputs()
    outputs = layer({"input_word_ids": word_ids, "input_mask": mask, "input_type_ids": type_ids})
    sequence, pooled, _, _ = hf_bert_forward(tensors, CONFIG, word_ids, mask, type_ids)
    assert outputs["pooled_output"].dtype == tf.float32
    assert np.abs(outputs["sequence_output"].numpy()[mask.astype(bool)] - sequence[mask.astype(bool)]).max() < 0.05
    assert np.abs(outputs["pooled_output"].numpy() - pooled).max() < 0.05


def test_sharded_checkpoint_with_old_layer_norm_names_and_no_mlm(tmp_path):
    tensors = random_hf_tensors(CONFIG, seed=2)
    renamed = {name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): value
               for name, value in tensors.items()}
    src, _ = make_hf_dir(tmp_path / "src", tensors={}, tokenizer_config={"do_lower_case": False})
    (src / "model.safetensors").unlink()
    names = sorted(renamed)
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    for shard, shard_names in shards.items():
        save_file({name: renamed[name] for name in shard_names}, str(src / shard))
    weight_map = {name: shard for shard, shard_names in shards.items() for name in shard_names}
    (src / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    out = convert_hf_bert(src, tmp_path / "out", progress=lambda line: None)
    encoder = hub.load(str(out / "encoder"))
    assert not hasattr(encoder, "mlm")
    assert bool(encoder.do_lower_case.numpy()) is False
    word_ids, mask, type_ids = _inputs()
    outputs = encoder({"input_word_ids": word_ids, "input_mask": mask, "input_type_ids": type_ids})
    _, pooled, _, _ = hf_bert_forward(tensors, CONFIG, word_ids, mask, type_ids)
    assert np.abs(outputs["pooled_output"].numpy() - pooled).max() < 1e-4


def _without(name):
    def edit(src):
        (src / name).unlink()
    return edit


def _replace_tensor(name, value):
    def edit(src):
        tensors = random_hf_tensors(CONFIG, seed=1, with_mlm=True)
        tensors.pop(name, None)
        if value is not None:
            tensors[name] = value
        save_file(tensors, str(src / "model.safetensors"))
    return edit


def _write(name, content):
    def edit(src):
        (src / name).write_text(content)
    return edit


def _edit_config(**changes):
    return _write("config.json", json.dumps({**HF_CONFIG, **changes}))


def _only_torch_pickle(src):
    (src / "model.safetensors").rename(src / "pytorch_model.bin")


@pytest.mark.parametrize("edit, message", [
    (_edit_config(model_type="roberta"), r"config.json: model_type 'roberta' is a RoBERTa-family model"),
    (_edit_config(model_type="albert", embedding_size=8), r"config.json: ALBERT-style"),
    (_edit_config(position_embedding_type="relative_key"), r"config.json: position_embedding_type 'relative_key'"),
    (_edit_config(hidden_act="gelu_new"), r"hidden_act 'gelu_new'"),
    (_edit_config(model_type="gpt2"), r"model_type is 'gpt2'"),
    (_edit_config(num_attention_heads=3), r"config.json: BertConfig.hidden_size \(16\) must be divisible"),
    (_edit_config(vocab_size=5), r"vocab.txt has 14 tokens but config.json's vocab_size is 5"),
    (_write("config.json", '{"model_type": "bert",\n  oops}'), r"config.json:2: not valid JSON"),
    (_without("config.json"), r"config.json is missing"),
    (_without("vocab.txt"), r"vocab.txt is missing"),
    (_without("model.safetensors"), r"has no model.safetensors"),
    (_only_torch_pickle, r"pytorch_model.bin is a torch pickle"),
    (_write("tokenizer_config.json", '{"do_lower_case": true, "strip_accents": false}'), r"strip_accents=False"),
    (_write("tokenizer_config.json", '{"tokenize_chinese_chars": false}'), r"tokenize_chinese_chars=false"),
    (_write("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\n"), r"vocab.txt lacks .*\[MASK\]"),
    (_replace_tensor("encoder.layer.1.output.dense.weight", np.zeros((16, 33), np.float32)),
     r"model.safetensors: tensor 'encoder.layer.1.output.dense.weight' has shape \(16, 33\), config.json implies "
     r"\(16, 32\)"),
    (_replace_tensor("pooler.dense.bias", None), r"model.safetensors: missing tensors \['pooler.dense.bias'\]"),
    (_replace_tensor("encoder.layer.0.attention.self.distance_embedding.weight", np.zeros((7, 16), np.float32)),
     r"distance_embedding.weight' is a relative position embedding"),
])
def test_refusals_name_the_file_and_leave_nothing_behind(tmp_path, edit, message):
    src, _ = make_hf_dir(tmp_path / "src")
    edit(src)
    with pytest.raises(ConversionError, match=message):
        convert_hf_bert(src, tmp_path / "out", progress=lambda line: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_existing_output_is_kept_unless_overwrite(tmp_path):
    src, _ = make_hf_dir(tmp_path / "src")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"overwrite=True \(tfhub-llm convert --overwrite\)"):
        convert_hf_bert(src, out, progress=lambda line: None)
    assert (out / "keep.txt").read_text() == "mine"
    convert_hf_bert(src, out, progress=lambda line: None, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["encoder", "preprocessor"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]


def test_an_existing_empty_folder_is_filled_as_git_clone_fills_one(tmp_path):
    src, _ = make_hf_dir(tmp_path / "src")
    (tmp_path / "out").mkdir()
    convert_hf_bert(src, tmp_path / "out", progress=lambda line: None)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["encoder", "preprocessor"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]


@pytest.mark.parametrize("name, expected", [("bert-base-cased", False), ("bert-base-uncased", True), ("x", True)])
def test_lower_casing_follows_the_name_without_tokenizer_config(tmp_path, name, expected):
    from tfhub_llm.bert.convert import do_lower_case_from_hf
    src = tmp_path / name
    src.mkdir()
    assert do_lower_case_from_hf(src, {}) is expected
    assert do_lower_case_from_hf(src, {"_name_or_path": "org/some-cased-model"}) is False
