"""Publishing a SavedModel on a hub folder: ``HUB_DIR/NAME/VERSION``, with its model card and Kaggle metadata.

``publish`` writes ``HUB_DIR/NAME/N``, the tar.gz tensorflow_hub fetches for
``hub.load("http://HOST/NAME/N")``, with ``N.sha256`` (both from :mod:`tfhub_llm.hub.archive`), the
version's model card ``N.md`` and, for the newest version, ``README.md`` plus the Kaggle Models
metadata ``model-metadata.json`` and ``model-instance-metadata.json``. Versions are immutable. With
a Kaggle handle it then uploads the folder (:mod:`tfhub_llm.publishing.kaggle`). An untrusted model is
published from one snapshot of what the scan checked (:func:`tfhub_llm.hub.security.scanned_for_load`):
the card, the archive and the upload all read it, so a folder changed after the scan publishes nothing unscanned.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
from collections.abc import Mapping, Sequence

from tfhub_llm.atomic import write_text
from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.hub import archive, handles, security
from tfhub_llm.hub.describe import describe, format_markdown
from tfhub_llm.hub_contract import TEXT_EMBEDDING
from tfhub_llm.publishing.kaggle import KAGGLE_FRAMEWORK, KaggleUploadError, import_kagglehub, kaggle_handle_parts, upload_to_kaggle

MODEL_CARD = "README.md"
KAGGLE_MODEL_METADATA = "model-metadata.json"
KAGGLE_INSTANCE_METADATA = "model-instance-metadata.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_KAGGLE_SLUG = re.compile(r"[a-z0-9][a-z0-9-]*")


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


def render_model_card(name: str, version: int, interface: dict, card: ModelCard, kaggle: str | None = None) -> str:
    """The model card (Markdown) of ``NAME/VERSION``: summary, usage, interface, data, evaluation, limitations."""
    url = _handle_url(card, name, version)
    sections = [
        f"# {name} (version {version})",
        card.summary or f"A TF-Hub {interface['kind']} published with tfhub-llm.",
        "## Usage\n\n" + _usage(url, interface["kind"], kaggle),
        "## Interface\n\n" + format_markdown(interface),
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
            "from tfhub_llm.layers.hub_layers import HubPreprocessor  # Keras 3\n"
            f'preprocessor = HubPreprocessor("{url}")  # packs to its default length'
        )
    elif kind == "encoder":
        code = (
            "import tensorflow_hub as hub\n"
            f'encoder = hub.load("{url}")\n'
            'outputs = encoder(encoder_inputs, training=False)  # pooled_output, sequence_output, encoder_outputs\n\n'
            "from tfhub_llm.layers.hub_layers import HubEncoder  # Keras 3 layer, fine-tunable\n"
            f'encoder = HubEncoder("{url}", trainable=True)\n\n'
            "# tf-keras (Keras 2): hub.KerasLayer\n"
            f'layer = hub.KerasLayer("{url}", trainable=True)'
        )
    elif kind == TEXT_EMBEDDING:
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


def _evaluation_text(evaluation):
    if not evaluation:
        return "No evaluation figures were given by the publisher."
    return "| metric | value |\n| --- | --- |\n" + "\n".join(f"| {metric} | {value} |" for metric, value in evaluation.items())


def kaggle_metadata(name: str, version: int, interface: dict, card: ModelCard, card_text: str,
                    kaggle: str | None = None) -> tuple[dict, dict]:
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
        raise InvalidArgumentError(f"Cannot make a Kaggle slug from the name {name!r}; pass a Kaggle handle")
    return slug


# ---------------------------------------------------------------- publish


@dataclasses.dataclass(frozen=True)
class Published:
    """Where ``publish`` put a version: the archive (also the handle's path under the hub URL) and its files."""

    archive: pathlib.Path
    sha256: str
    model_card: pathlib.Path
    kaggle_handle: str | None = None


def validate_name_and_version(name: str, version: int | str) -> tuple[str, int]:
    """Returns ``(name, version)`` checked: a plain file name, a positive integer; raises ``InvalidArgumentError``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidArgumentError(
            f"Model name {name!r}: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit "
            "(no path separators)")
    if isinstance(version, bool) or not (isinstance(version, int) or (isinstance(version, str) and version.isdecimal())):
        raise InvalidArgumentError(f"Version {version!r} of {name!r}: must be a positive integer")
    if int(version) < 1:
        raise InvalidArgumentError(f"Version {version!r} of {name!r}: must be a positive integer (1, 2, ...)")
    return name, int(version)


def publish(saved_model_dir: str | os.PathLike, hub_dir: str | os.PathLike, name: str, version: int | str, *,
            model_card: ModelCard | None = None, kaggle: str | None = None, trust: bool = False) -> Published:
    """Publishes a SavedModel as ``HUB_DIR/NAME/VERSION`` for ``hub.load("http(s)://HOST/NAME/VERSION")``.

    Writes the archive (root = the SavedModel root) and its ``.sha256``, the model card ``VERSION.md``
    and, when VERSION is the newest, ``README.md`` and the Kaggle metadata. Refuses an existing
    ``NAME/VERSION``. With ``kaggle="OWNER/MODEL/tensorFlow2/VARIATION"`` it then uploads the
    SavedModel with ``kagglehub.model_upload``.

    Unless the model is trusted (``trust``, a trusted folder), everything is taken from one private
    snapshot made by the scan of :mod:`tfhub_llm.hub.security` and removed when ``publish`` returns or
    raises: the ``saved_model.pb`` and asset bytes that were checked, ``assets.extra/``, and copies of
    ``variables/`` and ``fingerprint.pb`` (a link or special file in them is refused, naming it). The
    card's interface (:func:`tfhub_llm.hub.describe.describe`, loaded from the snapshot without a second
    scan), the archive and the upload all read that snapshot, so a change to the folder after the scan
    publishes nothing unscanned. Other files of the folder (notes, assets no graph names) are not part of
    the SavedModel and are left out, as nothing scanned them. A trusted model is published from its own
    folder, every file of it.
    """
    name, version = validate_name_and_version(name, version)
    card = model_card or ModelCard()
    if kaggle:
        kaggle_handle_parts(kaggle)
        import_kagglehub()  # fail before writing anything when the upload cannot happen
    model_dir = pathlib.Path(hub_dir) / name
    archive_path = model_dir / str(version)
    if os.path.lexists(archive_path):
        raise archive.ArchiveExistsError(archive_path)
    model = handles.resolve(saved_model_dir)
    if model.remote:
        raise InvalidArgumentError(f"publish takes a local SavedModel folder, not the remote handle {model.handle!r}")
    with security.scanned_for_load(model, trust=trust, copy_variables=True) as folder:
        # Scanned already (or trusted): the card names the handle as the user gave it.
        interface = describe(dataclasses.replace(model, path=folder), trust=True)
        card_text = render_model_card(name, version, interface, card, kaggle)
        model_metadata, instance_metadata = kaggle_metadata(name, version, interface, card, card_text, kaggle)
        digest = archive.write_saved_model_archive(folder, archive_path)
        card_path = model_dir / f"{version}.md"
        write_text(card_path, card_text)
        if version == max(_published_versions(model_dir)):
            write_text(model_dir / MODEL_CARD, card_text)
            write_text(model_dir / KAGGLE_MODEL_METADATA, json.dumps(model_metadata, indent=2) + "\n")
            write_text(model_dir / KAGGLE_INSTANCE_METADATA, json.dumps(instance_metadata, indent=2) + "\n")
        if kaggle:
            try:
                upload_to_kaggle(folder, kaggle, license_name=card.license_name, version_notes=f"{name} version {version}")
            except KaggleUploadError as error:
                raise KaggleUploadError(
                    f"{error}\n{archive_path} was published locally; retry only the upload from it with "
                    f"tfhub_llm.hub.archive.safe_extract({str(archive_path)!r}, FOLDER), then "
                    f"tfhub_llm.publishing.upload_to_kaggle(FOLDER, {kaggle!r})") from error.__cause__
    return Published(archive_path, digest, card_path, kaggle)


def _published_versions(model_dir):
    return [int(entry.name) for entry in model_dir.iterdir() if entry.name.isdecimal() and entry.is_file()]
