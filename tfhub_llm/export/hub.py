"""Publishing fine-tuned encoders back to a hub: Reusable SavedModels, hub archives, model cards, Kaggle.

* ``export_to_hub`` re-saves a (fine-tuned) model's encoder as a TF-Hub Reusable SavedModel: the
  restored module keeps its functions (``__call__`` for both values of ``training``, ``mlm``),
  assets and signatures, and its variables are the ones the Keras layer trains, so the files hold
  the fine-tuned weights. The preprocessor has nothing to train and is copied as it was loaded
  (a re-save would wrap its vocabulary table initializer, which the op scan of
  :mod:`tfhub_llm.security` then no longer recognizes as reading the model's own asset).
* ``publish`` writes ``HUB_DIR/NAME/N``, the tar.gz tensorflow_hub fetches for
  ``hub.load("http://HOST/NAME/N")``, with ``N.sha256`` (both from :mod:`tfhub_llm.archive`), the
  version's model card ``N.md`` and, for the newest version, ``README.md`` plus the Kaggle Models
  metadata ``model-metadata.json`` and ``model-instance-metadata.json``. Versions are immutable.
* ``upload_to_kaggle`` hands a SavedModel folder to ``kagglehub.model_upload`` (an optional package).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import shutil
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from tfhub_llm import archive, hub
from tfhub_llm.bert.export import atomic_directory
from tfhub_llm.layers import HubEncoder, HubPreprocessor

MODEL_CARD = "README.md"
KAGGLE_MODEL_METADATA = "model-metadata.json"
KAGGLE_INSTANCE_METADATA = "model-instance-metadata.json"
KAGGLE_FRAMEWORK = "tensorFlow2"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_KAGGLE_SLUG = re.compile(r"[a-z0-9][a-z0-9-]*")
# Sub-objects and functions of the TF-Hub BERT interface, in the order a model card lists them.
_INTERFACE_PARTS = ("__call__", "mlm", "tokenize", "tokenize_with_offsets", "bert_pack_inputs")


class KaggleUploadError(RuntimeError):
    """kagglehub is missing, or the upload to Kaggle Models failed (offline, no credentials...)."""


# ---------------------------------------------------------------- export_to_hub


def export_to_hub(model_or_encoder, out_dir, *, preprocessor=True):
    """Writes ``out_dir/encoder`` (and ``out_dir/preprocessor``) as TF-Hub Reusable SavedModels.

    Args:
        model_or_encoder: a task model with ``.encoder`` (``TextClassifier``,
            ``SpanQuestionAnswerer``) or a :class:`HubEncoder`; its current (fine-tuned) weights are written.
        out_dir: a new or empty folder; it appears complete or not at all.
        preprocessor: ``True`` for the model's own preprocessor, ``False`` for none, or a
            :class:`HubPreprocessor` to write next to the encoder.

    Returns the ``out_dir`` path.
    """
    encoder = model_or_encoder if isinstance(model_or_encoder, HubEncoder) else getattr(model_or_encoder, "encoder", None)
    if not isinstance(encoder, HubEncoder):
        raise TypeError(f"export_to_hub takes a task model with a HubEncoder or a HubEncoder, got {type(model_or_encoder).__name__}")
    preprocessor_layer = _preprocessor_to_export(model_or_encoder, preprocessor)
    out_dir = pathlib.Path(out_dir)
    if out_dir.exists() and not (out_dir.is_dir() and not any(out_dir.iterdir())):
        raise FileExistsError(f"{out_dir} already exists and is not an empty folder; export to a new folder")
    with atomic_directory(out_dir, overwrite=out_dir.exists()) as staging:
        tf.saved_model.save(encoder.module, str(staging / "encoder"), signatures=_encoder_signatures(encoder.module))
        if preprocessor_layer is not None:
            shutil.copytree(hub.resolve(preprocessor_layer.handle), staging / "preprocessor")
    return out_dir


def _preprocessor_to_export(model_or_encoder, preprocessor):
    if isinstance(preprocessor, HubPreprocessor):
        return preprocessor
    if preprocessor is False:
        return None
    if preprocessor is True:
        layer = getattr(model_or_encoder, "preprocessor", None)
        if not isinstance(layer, HubPreprocessor):
            raise ValueError("A bare HubEncoder has no preprocessor: pass preprocessor=False or a HubPreprocessor")
        return layer
    raise TypeError(f"preprocessor must be True, False or a HubPreprocessor, got {preprocessor!r}")


def _encoder_signatures(module):
    """The encoder's signatures, with a ``serving_default`` made from ``__call__`` when it has none."""
    signatures = dict(module.signatures)
    if "serving_default" not in signatures:
        signatures["serving_default"] = _encoder_serving_default(module)
    return signatures


def _encoder_serving_default(module):
    specs = [tf.TensorSpec([None, None], tf.int32, name=key) for key in hub.ENCODER_INPUT_KEYS]

    @tf.function(input_signature=specs)
    def serving_default(input_word_ids, input_mask, input_type_ids):
        inputs = {"input_word_ids": input_word_ids, "input_mask": input_mask, "input_type_ids": input_type_ids}
        outputs = dict(module(inputs, training=False))
        layers = outputs.pop("encoder_outputs", [])
        outputs.update({f"encoder_outputs_{i}": layer for i, layer in enumerate(layers)})
        return outputs

    return serving_default


# ---------------------------------------------------------------- interface of a SavedModel


def describe_interface(saved_model_dir) -> dict:
    """What a Reusable SavedModel offers, read from the loaded object (after the op scan of ``hub.load``).

    Returns ``kind`` (encoder / preprocessor / text embedding / SavedModel), ``functions`` (name → lines
    ``inputs → outputs``), ``signatures`` (name → inputs, outputs), ``vocab_file`` and its
    size, ``do_lower_case``, ``variables``, ``trainable_variables`` and ``parameters``.
    """
    module = hub.load(os.fspath(saved_model_dir))
    functions = {name: _function_lines(_part_functions(module, name)) for name in _INTERFACE_PARTS if hasattr(module, name)}
    variables = hub.module_variables(module)
    vocab = getattr(module, "vocab_file", None)
    vocab_path = vocab.asset_path.numpy().decode() if vocab is not None else None
    do_lower_case = getattr(module, "do_lower_case", None)
    return {
        "kind": hub.interface_kind(module) or "SavedModel",
        "functions": functions,
        "signatures": {
            name: {"inputs": _render(function.structured_input_signature[1]), "outputs": _render(function.structured_outputs)}
            for name, function in sorted(module.signatures.items())
        },
        "vocab_file": os.path.basename(vocab_path) if vocab_path else None,
        "vocab_size": _line_count(vocab_path) if vocab_path else None,
        "do_lower_case": bool(do_lower_case.numpy()) if do_lower_case is not None else None,
        "variables": len(variables),
        "trainable_variables": len(getattr(module, "trainable_variables", ())),
        "parameters": int(sum(np.prod(v.shape) for v in variables if v.dtype.is_floating)),
    }


def _part_functions(module, name):
    part = getattr(module, name)
    functions = getattr(part, "concrete_functions", None)
    if functions is None:
        functions = getattr(getattr(part, "__call__", None), "concrete_functions", ())
    return functions


def _function_lines(concrete_functions):
    lines = []
    for function in concrete_functions:
        args, kwargs = function.structured_input_signature
        named = {**dict(zip(function.function_type.parameters, args)), **kwargs}
        arguments = [f"{key}={_render(value)}" for key, value in named.items() if value is not None]
        line = f"({', '.join(arguments)}) → {_render(function.structured_outputs)}"
        if line not in lines:
            lines.append(line)
    return lines


def _render(value):
    """Short text for a structure of specs/tensors: ``input_mask: int32 [?, ?]``, lists as ``2 × ...``."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {_render(item)}" for key, item in sorted(value.items())) + "}"
    if isinstance(value, (list, tuple)):
        items = [_render(item) for item in value]
        if len(items) > 1 and len(set(items)) == 1:
            return f"[{len(items)} × {items[0]}]"
        return "[" + ", ".join(items) + "]"
    if isinstance(value, (tf.RaggedTensorSpec, tf.RaggedTensor)):
        return f"ragged {value.dtype.name} {_shape(value.shape)}"
    if isinstance(value, (tf.TensorSpec, tf.Tensor)):
        return f"{value.dtype.name} {_shape(value.shape)}"
    return repr(value)


def _shape(shape):
    return "[" + ", ".join("?" if size is None else str(size) for size in shape.as_list()) + "]" if shape.rank is not None else "[...]"


def _line_count(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


# ---------------------------------------------------------------- model card and Kaggle metadata


@dataclasses.dataclass
class ModelCard:
    """What the publisher knows and the SavedModel cannot tell: it goes into the model card.

    Args:
        summary: one paragraph on what the model is and what it was fine-tuned for.
        training_data: datasets (names or URLs) the model was trained on.
        evaluation: metric name → figure (with the split), as measured by the publisher.
        limitations: known limitations and intended use.
        base_model: the handle the model was fine-tuned from.
        hub_url: the URL ``HUB_DIR`` is served at (``https://models.example.com``), for the usage examples.
        license_name: the license, named as Kaggle Models lists it (e.g. ``"Apache 2.0"``).
    """

    summary: str = ""
    training_data: Sequence[str] = ()
    evaluation: Mapping[str, object] = dataclasses.field(default_factory=dict)
    limitations: str = ""
    base_model: str = ""
    hub_url: str = ""
    license_name: str = "Apache 2.0"


def kaggle_handle_parts(handle: str) -> dict:
    """``OWNER/MODEL/tensorFlow2/VARIATION`` → its parts; raises ``ValueError`` naming what is wrong."""
    parts = handle.split("/")
    if len(parts) != 4:
        raise ValueError(f"Kaggle handle {handle!r}: expected OWNER/MODEL/{KAGGLE_FRAMEWORK}/VARIATION")
    owner, model, framework, variation = parts
    if framework.lower() != KAGGLE_FRAMEWORK.lower():
        raise ValueError(f"Kaggle handle {handle!r}: the framework must be {KAGGLE_FRAMEWORK} (a TF2 SavedModel), got {framework!r}")
    for field, value in (("owner", owner), ("model", model), ("variation", variation)):
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", value):
            raise ValueError(f"Kaggle handle {handle!r}: the {field} {value!r} must be letters, digits, '-' or '_'")
    return {"owner": owner, "model": model, "framework": KAGGLE_FRAMEWORK, "variation": variation}


def render_model_card(name, version, interface, card: ModelCard, kaggle=None) -> str:
    """The model card (Markdown) of ``NAME/VERSION``: summary, usage, interface, data, evaluation, limitations."""
    url = _handle_url(card, name, version)
    sections = [
        f"# {name} (version {version})",
        card.summary or f"A TF-Hub {interface['kind']} published with tfhub-llm.",
        "## Usage\n\n" + _usage(url, interface["kind"], kaggle),
        "## Interface\n\n" + _interface_text(interface),
        "## Training data\n\n" + ("\n".join(f"- {item}" for item in card.training_data) or "Not stated by the publisher."),
        "## Evaluation\n\n" + _evaluation_text(card.evaluation),
        "## Limitations\n\n" + (card.limitations or _DEFAULT_LIMITATIONS),
        "## Provenance\n\n" + "\n".join(filter(None, [
            f"- Fine-tuned from: `{card.base_model}`" if card.base_model else "",
            f"- License: {card.license_name}",
            f"- Archive: `{name}/{version}` (tar.gz of the SavedModel root), checksum in `{name}/{version}{archive.SHA256_SUFFIX}`",
        ])),
    ]
    return "\n\n".join(sections) + "\n"


def _handle_url(card, name, version):
    return f"{card.hub_url.rstrip('/') if card.hub_url else 'http://HOST'}/{name}/{version}"


_DEFAULT_LIMITATIONS = (
    "The publisher stated none. Like every BERT model it reflects the biases of its pretraining and "
    "fine-tuning data, handles at most the sequence length it was trained with, and should be "
    "evaluated on the target domain before use."
)


def _usage(url, kind, kaggle):
    if kind == "preprocessor":
        code = (
            "import tensorflow_hub as hub, tensorflow_text  # registers the TF Text ops\n"
            f'preprocessor = hub.load("{url}")\n'
            'encoder_inputs = preprocessor(["hello world"])  # input_word_ids, input_mask, input_type_ids\n\n'
            "from tfhub_llm.layers import HubPreprocessor  # Keras 3\n"
            f'preprocessor = HubPreprocessor("{url}", seq_length=128)'
        )
    elif kind == "encoder":
        code = (
            "import tensorflow_hub as hub\n"
            f'encoder = hub.load("{url}")\n'
            'outputs = encoder(encoder_inputs, training=False)  # pooled_output, sequence_output, encoder_outputs\n\n'
            "from tfhub_llm.layers import HubEncoder  # Keras 3 layer, fine-tunable\n"
            f'encoder = HubEncoder("{url}", trainable=True)\n\n'
            "# tf-keras (Keras 2): hub.KerasLayer\n"
            f'layer = hub.KerasLayer("{url}", trainable=True)'
        )
    elif kind == hub.TEXT_EMBEDDING:
        code = (
            "import tensorflow as tf, tensorflow_hub as hub, tensorflow_text  # registers the TF Text ops\n"
            f'embed = hub.load("{url}")\n'
            'vectors = embed(tf.constant(["hello world"]))  # [batch, dim]\n\n'
            "from tfhub_llm import HubTextEmbedding  # Keras 3 layer, fine-tunable\n"
            f'embedding = HubTextEmbedding("{url}", trainable=True)\n\n'
            "# tf-keras (Keras 2): hub.KerasLayer\n"
            f'layer = hub.KerasLayer("{url}", input_shape=[], dtype=tf.string, trainable=True)'
        )
    else:
        code = f'import tensorflow_hub as hub\nmodel = hub.load("{url}")'
    text = "```python\n" + code + "\n```"
    if kaggle:
        text += (
            "\n\nFrom Kaggle Models:\n\n```python\nimport kagglehub, tensorflow_hub as hub\n"
            f'model = hub.load(kagglehub.model_download("{kaggle}"))\n```'
        )
    return text


def _interface_text(interface):
    lines = []
    for name, signatures in interface["functions"].items():
        lines.append(f"- `{name}`:" + "".join(f"\n  - `{line}`" for line in signatures))
    for name, signature in interface["signatures"].items():
        lines.append(f"- signature `{name}`: `{signature['inputs']}` → `{signature['outputs']}`")
    if interface["vocab_file"]:
        lines.append(f"- `vocab_file` asset: `{interface['vocab_file']}` ({interface['vocab_size']:,} tokens)")
    if interface["do_lower_case"] is not None:
        lines.append(f"- `do_lower_case`: {interface['do_lower_case']}")
    lines.append(
        f"- {interface['variables']} variables ({interface['trainable_variables']} trainable), "
        f"{interface['parameters']:,} parameters")
    return "\n".join(lines)


def _evaluation_text(evaluation):
    if not evaluation:
        return "No evaluation figures were given by the publisher."
    return "| metric | value |\n| --- | --- |\n" + "\n".join(f"| {metric} | {value} |" for metric, value in evaluation.items())


def kaggle_metadata(name, version, interface, card: ModelCard, card_text: str, kaggle=None) -> tuple[dict, dict]:
    """``model-metadata.json`` and ``model-instance-metadata.json`` for the Kaggle CLI/API.

    Without a Kaggle handle the slugs come from ``name`` and ``ownerSlug`` is left empty for the user to fill.
    """
    parts = kaggle_handle_parts(kaggle) if kaggle else {
        "owner": "", "model": _kaggle_slug(name), "framework": KAGGLE_FRAMEWORK, "variation": "default"}
    model = {
        "ownerSlug": parts["owner"],
        "title": name,
        "slug": parts["model"],
        "subtitle": (card.summary.split(".")[0] if card.summary else f"TF-Hub {interface['kind']}")[:80],
        "isPrivate": True,
        "licenseName": card.license_name,
        "description": card_text,
        "publishTime": "",
        "provenanceSources": card.base_model,
    }
    instance = {
        "ownerSlug": parts["owner"],
        "modelSlug": parts["model"],
        "instanceSlug": parts["variation"],
        "framework": parts["framework"],
        "overview": card.summary,
        "usage": _usage(_handle_url(card, name, version), interface["kind"], kaggle),
        "licenseName": card.license_name,
        "fineTunable": interface["trainable_variables"] > 0,
        "trainingData": list(card.training_data),
        "modelInstanceType": "Unspecified",
        "baseModelInstance": "",
        "externalBaseModelUrl": card.base_model if card.base_model.startswith(("http://", "https://")) else "",
    }
    return model, instance


def _kaggle_slug(name):
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not _KAGGLE_SLUG.fullmatch(slug):
        raise ValueError(f"Cannot make a Kaggle slug from the name {name!r}; pass a Kaggle handle")
    return slug


# ---------------------------------------------------------------- publish


@dataclasses.dataclass(frozen=True)
class Published:
    """Where ``publish`` put a version: the archive (also the handle's path under the hub URL) and its files."""

    archive: pathlib.Path
    sha256: str
    model_card: pathlib.Path
    kaggle_handle: str | None = None


def validate_name_and_version(name, version) -> tuple[str, int]:
    """Returns ``(name, version)`` checked: a plain file name, a positive integer; raises ``ValueError``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"Model name {name!r}: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit "
            "(no path separators)")
    if isinstance(version, bool) or not (isinstance(version, int) or (isinstance(version, str) and version.isdecimal())):
        raise ValueError(f"Version {version!r} of {name!r}: must be a positive integer")
    if int(version) < 1:
        raise ValueError(f"Version {version!r} of {name!r}: must be a positive integer (1, 2, ...)")
    return name, int(version)


def publish(saved_model_dir, hub_dir, name, version, *, model_card: ModelCard | None = None, kaggle=None) -> Published:
    """Publishes a SavedModel as ``HUB_DIR/NAME/VERSION`` for ``hub.load("http(s)://HOST/NAME/VERSION")``.

    Writes the archive (root = the SavedModel root) and its ``.sha256``, the model card ``VERSION.md``
    and, when VERSION is the newest, ``README.md`` and the Kaggle metadata. Refuses an existing
    ``NAME/VERSION``. With ``kaggle="OWNER/MODEL/tensorFlow2/VARIATION"`` it then uploads the
    SavedModel folder with ``kagglehub.model_upload``.
    """
    name, version = validate_name_and_version(name, version)
    card = model_card or ModelCard()
    if kaggle:
        kaggle_handle_parts(kaggle)
        _import_kagglehub()  # fail before writing anything when the upload cannot happen
    model_dir = pathlib.Path(hub_dir) / name
    archive_path = model_dir / str(version)
    if os.path.lexists(archive_path):
        raise archive.ArchiveExistsError(f"{archive_path} already exists; published versions are immutable, "
                                         "publish a new version number instead")
    interface = describe_interface(saved_model_dir)
    card_text = render_model_card(name, version, interface, card, kaggle)
    model_metadata, instance_metadata = kaggle_metadata(name, version, interface, card, card_text, kaggle)
    digest = archive.write_saved_model_archive(saved_model_dir, archive_path)
    card_path = model_dir / f"{version}.md"
    archive.write_text_atomically(str(card_path), card_text)
    if version == max(_published_versions(model_dir)):
        archive.write_text_atomically(str(model_dir / MODEL_CARD), card_text)
        archive.write_text_atomically(str(model_dir / KAGGLE_MODEL_METADATA), json.dumps(model_metadata, indent=2) + "\n")
        archive.write_text_atomically(str(model_dir / KAGGLE_INSTANCE_METADATA), json.dumps(instance_metadata, indent=2) + "\n")
    if kaggle:
        try:
            upload_to_kaggle(saved_model_dir, kaggle, license_name=card.license_name, version_notes=f"{name} version {version}")
        except KaggleUploadError as error:
            raise KaggleUploadError(
                f"{error}\n{archive_path} was published locally; retry only the upload with "
                f"tfhub_llm.export.hub.upload_to_kaggle({os.fspath(saved_model_dir)!r}, {kaggle!r})") from error.__cause__
    return Published(archive_path, digest, card_path, kaggle)


def _published_versions(model_dir):
    return [int(entry.name) for entry in model_dir.iterdir() if entry.name.isdecimal() and entry.is_file()]


# ---------------------------------------------------------------- Kaggle Models


def _import_kagglehub():
    try:
        import kagglehub  # an optional package: only publishing to Kaggle needs it
    except ImportError as error:
        raise KaggleUploadError(
            "Publishing to Kaggle Models needs the kagglehub package: `pip install kagglehub`, then set "
            "KAGGLE_USERNAME and KAGGLE_KEY (or ~/.kaggle/kaggle.json)") from error
    return kagglehub


def upload_to_kaggle(saved_model_dir, handle, *, license_name="Apache 2.0", version_notes=""):
    """Uploads a SavedModel folder as a new version of the Kaggle Models ``OWNER/MODEL/tensorFlow2/VARIATION``."""
    kaggle_handle_parts(handle)
    if not os.path.isfile(os.path.join(saved_model_dir, tf.saved_model.SAVED_MODEL_FILENAME_PB)):
        raise FileNotFoundError(f"{saved_model_dir} is not a SavedModel folder (no saved_model.pb)")
    kagglehub = _import_kagglehub()
    try:
        kagglehub.model_upload(handle, os.fspath(saved_model_dir), license_name=license_name, version_notes=version_notes)
    except OSError as error:  # requests' ConnectionError/HTTPError and socket errors are OSErrors
        raise KaggleUploadError(
            f"Uploading {saved_model_dir} to Kaggle Models {handle!r} failed: {error}. The machine may be "
            "offline, or the Kaggle credentials (KAGGLE_USERNAME/KAGGLE_KEY) missing or wrong") from error


__all__ = [
    "KaggleUploadError", "ModelCard", "Published", "describe_interface", "export_to_hub", "kaggle_handle_parts",
    "kaggle_metadata", "publish", "render_model_card", "upload_to_kaggle", "validate_name_and_version",
]
