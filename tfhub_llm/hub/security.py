"""Scanning SavedModels before anything from them runs, and loading exactly what was scanned.

A SavedModel is a program: restoring it runs its initializers and restore code, calling it runs its
functions. ``check_saved_model`` parses ``saved_model.pb`` as a protocol buffer, never executing it,
and raises ``UntrustedModelError`` (naming each op or asset, its function and the reason) unless

* its graphs pass the rules of :mod:`tfhub_llm.hub.scan_rules` against the op lists
  ``allowed_ops.json`` and ``denied_ops.json`` of :mod:`tfhub_llm.op_lists` (a reason per denied family), and
* every asset it names is a regular file inside ``<model>/assets`` (:mod:`tfhub_llm.hub.assets`).

``scanned_copy`` returns the folder to load: a private copy holding the very ``saved_model.pb`` bytes
and asset bytes that were checked, plus ``assets.extra/`` read the same capped way (``variables/`` is linked: it is data, restored by TensorFlow's own
code), so swapping files after the scan changes nothing; with ``copy_variables`` it copies ``variables/``
and ``fingerprint.pb`` too (regular files only, the walk of :mod:`tfhub_llm.hub.archive`), a whole SavedModel
fixed at the scan, which publishing archives and uploads. That copy stays until the process exits
(in this process's folder of :mod:`tfhub_llm.hub.staging`, which a later load sweeps if a crash left it),
because a TF2 object loaded from it keeps its assets' paths (``Asset.asset_path``): the describer
reads the vocabulary there, and ``tf.saved_model.save`` copies it from there when the module is
re-exported. ``scanned_for_load`` removes the copy as soon as its block ends, for loaders that keep
nothing of the folder (TF Serving's TF1 loader, the development server, publishing). Findings are cached by the
sha256 of ``saved_model.pb``; assets are read and checked on every call.

Trust comes only from the caller (:mod:`tfhub_llm.hub.trust`): ``trust=True``, ``allow_ops=[...]``,
``trusting()`` for a block of code, or a trusted folder judged by the handle the caller named.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import hashlib
import os
import shutil
import stat
import tempfile

from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2

from tfhub_llm.errors import InvalidFileError, MissingFileError, PackageDataError, TfhubLlmError
from tfhub_llm.hub import archive, staging
from tfhub_llm.hub.assets import EXTRA_ASSETS, SAVED_MODEL_FILES, read_assets, read_extra_assets
from tfhub_llm.hub.limits import load_memory_limit
from tfhub_llm.hub.resolved_handle import ResolvedHandle
from tfhub_llm.hub.shape_rules import FileSizes
from tfhub_llm.hub.saved_model_graph import TOP_LEVEL_GRAPH
from tfhub_llm.hub.scan_rules import ASSETS, Finding, Policy, graph_findings
from tfhub_llm.hub.trust import TRUSTED_DIRS_ENV, is_trusted
from tfhub_llm.op_lists import read_op_list

_CACHE_SIZE = 64
_VARIABLES = "variables"
# What a SavedModel holds besides the program and its assets: data, copied as it is into a snapshot.
_DATA_ENTRIES = (_VARIABLES, "fingerprint.pb")


class UntrustedModelError(TfhubLlmError, ValueError):
    """A SavedModel does something untrusted models may not; names each op (or asset) and its function."""

    def __init__(self, source: str, findings: tuple[Finding, ...]):
        self.source = source
        self.findings = findings
        shown = "\n".join(f"  - op {f.op!r} in function {f.function!r}: {f.reason}" for f in findings[:10])
        more = f"\n  ... and {len(findings) - 10} more" if len(findings) > 10 else ""
        ops = sorted({f.op for f in findings})
        super().__init__(
            f"Refusing to run SavedModel {source}: it does what untrusted models may not:\n{shown}{more}\n"
            f"If you trust this model, pass trust=True (--trust on the command line), or allow_ops={ops!r}, "
            f"or trust its folder with tfhub_llm.trust_directory(...) or ${TRUSTED_DIRS_ENV}."
        )


@functools.cache
def _policy() -> Policy:
    allowed = read_op_list("allowed_ops")["ops"]
    denied_reason, permitted_in = {}, {}
    for family in read_op_list("denied_ops")["families"]:
        for op in family["ops"]:
            denied_reason[op] = family["reason"]
            if "permitted_in" in family:
                permitted_in[op] = family["permitted_in"]
    overlap = set(allowed) & set(denied_reason)
    if overlap:
        raise PackageDataError(f"allowed_ops.json lists denied ops {sorted(overlap)}")
    return Policy(frozenset(allowed), denied_reason, permitted_in)


def denied_ops() -> dict[str, str]:
    """Every denied op type mapped to the reason it is denied."""
    return dict(_policy().denied_reason)


def allowed_ops() -> frozenset[str]:
    """The op types untrusted SavedModels may use."""
    return _policy().allowed


# ---------------------------------------------------------------- parsing


def _saved_model_file(path: str) -> str:
    for name in SAVED_MODEL_FILES:
        candidate = os.path.join(path, name)
        if os.path.isfile(candidate):
            return candidate
    raise MissingFileError(f"{path} is not a SavedModel: no saved_model.pb or saved_model.pbtxt in it")


def _parse_saved_model(data: bytes, filename: str) -> saved_model_pb2.SavedModel:
    saved_model = saved_model_pb2.SavedModel()
    try:
        if filename.endswith(".pbtxt"):
            text_format.Parse(data.decode("utf-8"), saved_model)
        else:
            saved_model.ParseFromString(data)
    except Exception as error:  # protobuf raises its own DecodeError / ParseError, not a ValueError
        raise InvalidFileError(f"{filename} is not a SavedModel protobuf: {error}") from error
    return saved_model


def read_saved_model(path: str) -> saved_model_pb2.SavedModel:
    """The ``SavedModel`` proto of the folder ``path`` (``saved_model.pb`` or ``.pbtxt``); a bad file is named."""
    filename = _saved_model_file(path)
    with open(filename, "rb") as f:
        return _parse_saved_model(f.read(), filename)


def _op_types(nodes, library) -> set[str]:
    return {node.op for node in nodes if node.op not in library}


def saved_model_op_types(path: str) -> dict[str, set[str]]:
    """Map every function of a SavedModel (and ``"<graph>"``) to the op types it uses.

    Reads ``saved_model.pb`` without loading or running it. Calls of other library
    functions are not op types; the callees appear under their own names.
    """
    op_types: dict[str, set[str]] = {}
    for meta_graph in read_saved_model(path).meta_graphs:
        graph = meta_graph.graph_def
        library = {f.signature.name for f in graph.library.function}
        op_types.setdefault(TOP_LEVEL_GRAPH, set()).update(_op_types(graph.node, library))
        for function in graph.library.function:
            op_types.setdefault(function.signature.name, set()).update(_op_types(function.node_def, library))
    return op_types


def saved_model_op_names(path: str) -> set[str]:
    """Every op type a SavedModel's graphs use, function library included (what TF Serving must link)."""
    return set().union(*saved_model_op_types(path).values())


# ---------------------------------------------------------------- scanning


_findings_cache: collections.OrderedDict[tuple, tuple[Finding, ...]] = collections.OrderedDict()


def _folder_bytes(folder: str) -> tuple[int, int]:
    """(apparent, allocated) bytes of the regular files under ``folder`` (links not followed)."""
    apparent = allocated = 0
    for root, _, names in os.walk(folder):
        for name in names:
            info = os.lstat(os.path.join(root, name))
            if stat.S_ISREG(info.st_mode):
                apparent += info.st_size
                allocated += min(info.st_size, getattr(info, "st_blocks", info.st_size // 512 + 1) * 512)
    return apparent, allocated


def _cached_graph_findings(variables_dir: str, data: bytes, saved_model, assets: dict) -> tuple[Finding, ...]:
    """The graphs' findings, cached by the sha256 of the saved_model.pb bytes and the sizes of the other files.

    The memory limit is proportional to the bytes the model's files hold on disk (sparse files count what
    they allocate), while checkpoint reads are bounded by their apparent size.
    """
    variables, variables_allocated = _folder_bytes(variables_dir)
    asset_bytes = sum(len(content) for content in assets.values())
    files = FileSizes(variables, asset_bytes)
    limit = load_memory_limit(len(data) + variables_allocated + asset_bytes)
    key = (hashlib.sha256(data).hexdigest(), files, limit)
    if key not in _findings_cache:
        _findings_cache[key] = graph_findings(saved_model, _policy(), files, limit)
        while len(_findings_cache) > _CACHE_SIZE:
            _findings_cache.popitem(last=False)
    _findings_cache.move_to_end(key)
    return _findings_cache[key]


def _asset_names(saved_model) -> list[str]:
    return list(dict.fromkeys(asset.filename for meta_graph in saved_model.meta_graphs
                              for asset in meta_graph.asset_file_def))


@dataclasses.dataclass(frozen=True)
class _Scanned:
    path: str
    filename: str
    data: bytes
    assets: dict
    extra_assets: dict


def _scan(model: ResolvedHandle, allow_ops, data_copy: str | None = None) -> _Scanned:
    """Read a SavedModel's bytes once, check them, and return them; raise ``UntrustedModelError``.

    With ``data_copy`` (a folder), a model that passes then has ``variables/`` and ``fingerprint.pb``
    copied into it and is judged again by the sizes of that copy (the cached findings, unless
    ``variables/`` changed in between), so the verdict holds for the copy.
    """
    path = os.path.realpath(model.path)
    filename = _saved_model_file(path)
    with open(filename, "rb") as f:
        data = f.read()
    saved_model = _parse_saved_model(data, filename)
    assets, asset_problems = read_assets(path, _asset_names(saved_model))
    asset_findings = tuple(Finding(ASSETS, "asset", f"asset file name {name!r} {problem}")
                           for name, problem in asset_problems.items())
    extra = set(allow_ops)

    def findings_with(variables_dir):
        return tuple(f for f in _cached_graph_findings(variables_dir, data, saved_model, assets) + asset_findings
                     if f.op not in extra)

    findings = findings_with(os.path.join(path, _VARIABLES))
    if not findings and data_copy is not None:
        archive.copy_saved_model(path, data_copy, only=_DATA_ENTRIES)
        findings = findings_with(os.path.join(data_copy, _VARIABLES))
    if findings:
        source = repr(path) if model.handle == path else f"{model.handle!r} ({path})"
        raise UntrustedModelError(source, findings)
    return _Scanned(path, filename, data, assets, read_extra_assets(path))


def check_saved_model(model: str | os.PathLike | ResolvedHandle, *, trust: bool = False, allow_ops=()) -> None:
    """Raise ``UntrustedModelError`` unless the SavedModel ``model`` (a folder, or a resolved handle) is safe to run.

    Skipped when the caller trusts it (``trust``, ``trusting()``, or a local handle in a trusted
    folder); ``allow_ops`` names extra op types to accept (even denied ones).
    """
    model = ResolvedHandle.of(model)
    if not is_trusted(model, trust=trust):
        _scan(model, allow_ops)


# ---------------------------------------------------------------- loading what was scanned


def scanned_copy(model: str | os.PathLike | ResolvedHandle, *, trust: bool = False, allow_ops=(),
                 copy_variables: bool = False) -> str:
    """The folder to load the SavedModel ``model`` (a folder, or a resolved handle) from, after ``check_saved_model``.

    Trusted: its own folder. Otherwise a private copy (removed when the process ends) of
    the scanned ``saved_model.pb`` bytes and asset bytes, with ``variables/`` linked to the
    original, so what TensorFlow loads is what was scanned. With ``copy_variables``, ``variables/``
    and ``fingerprint.pb`` are copied instead, once the model passes (regular files only: a link or
    special file raises :class:`~tfhub_llm.hub.archive.UnsafeArchiveError` naming it), and the verdict
    is checked again on the copy's sizes: the copy is a whole SavedModel, fixed at the scan, to archive
    or upload.
    """
    model = ResolvedHandle.of(model)
    if is_trusted(model, trust=trust):
        return model.path
    # A private folder (mode 0700) that nobody reads before this returns, so plain writes suffice.
    copy = tempfile.mkdtemp(prefix="model.", dir=staging.process_folder())
    try:
        scanned = _scan(model, allow_ops, data_copy=copy if copy_variables else None)
        _write_scanned(scanned, copy)
    except BaseException:
        shutil.rmtree(copy, ignore_errors=True)
        raise
    variables = os.path.join(scanned.path, _VARIABLES)
    if not copy_variables and os.path.isdir(variables):
        os.symlink(variables, os.path.join(copy, _VARIABLES))
    return copy


def _write_scanned(scanned: _Scanned, copy: str) -> None:
    """Write the bytes the scan read (``saved_model.pb``, assets, ``assets.extra``) into the folder ``copy``."""
    files = [((os.path.basename(scanned.filename),), scanned.data)]
    files += [(("assets", *name.split("/")), content) for name, content in scanned.assets.items()]
    files += [((EXTRA_ASSETS, name), content) for name, content in scanned.extra_assets.items()]
    for parts, content in files:
        target = os.path.join(copy, *parts)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(content)


@contextlib.contextmanager
def scanned_for_load(model: str | os.PathLike | ResolvedHandle, *, trust: bool = False, allow_ops=(),
                     copy_variables: bool = False):
    """``scanned_copy`` for work that reads nothing of the folder once the block ends: the copy is removed then."""
    model = ResolvedHandle.of(model)
    folder = scanned_copy(model, trust=trust, allow_ops=allow_ops, copy_variables=copy_variables)
    try:
        yield folder
    finally:
        if folder != model.path:
            shutil.rmtree(folder, ignore_errors=True)
