"""The development server's model versions: found, scanned and loaded in the background, as TF Serving's manager does.

A loader thread polls the base directory (every ``poll_interval`` seconds; TF Serving: 1 s). A version is a
subfolder named by ASCII digits only; the version policy (latest N by default, ``all``, or a ``specific`` list,
as TF Serving's ``model_version_policy``) picks which to serve. Each picked version goes START → LOADING →
AVAILABLE (scanned by :func:`tfhub_llm.hub.security.scanned_for_load` unless trusted, then loaded as TF Serving
loads it, a TF1 session) and requests only ever see AVAILABLE versions: no load happens inside a request, and the
last good version keeps serving while a newer one loads. A version that the policy no longer picks once the
newer ones are AVAILABLE goes to END (at once: requests in flight finish on it). A folder that cannot be served (empty, no ``saved_model.pb``, a
failed load or a refused scan) is END with its error in the status, logged once, and tried again only when its
files change; while it is bad, the policy picks among the other versions.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading

from tfhub_llm.errors import InvalidArgumentError, MissingFileError
from tfhub_llm.tf_serving.check import ServingSession
from tfhub_llm.tf_serving.export import is_version_name
from tfhub_llm.tf_serving.rest_json import RequestError

logger = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL = 1.0  # seconds between looks at the base directory (TF Serving's file system poll)
START, LOADING, AVAILABLE, END = "START", "LOADING", "AVAILABLE", "END"  # TF Serving's states (UNLOADING: below)
_SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """TF Serving's ``model_version_policy``: the ``latest`` N versions, ``all``, or ``specific`` versions."""

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def __post_init__(self):
        if self.kind not in ("latest", "all", "specific"):
            raise InvalidArgumentError(f"version policy {self.kind!r}: expected 'latest', 'all' or 'specific'")
        if self.kind == "latest" and self.num_versions < 1:
            raise InvalidArgumentError(f"version policy latest:{self.num_versions}: keep at least 1 version")
        if self.kind == "specific" and not self.versions:
            raise InvalidArgumentError("version policy 'specific' needs at least one version number")

    @classmethod
    def parse(cls, text: str) -> "VersionPolicy":
        """From the command line: ``latest``, ``latest:N``, ``all`` or ``specific:1,3``."""
        kind, _, argument = text.partition(":")
        try:
            if kind == "latest":
                return cls("latest", int(argument) if argument else 1)
            if kind == "specific":
                return cls("specific", versions=tuple(int(item) for item in argument.split(",") if item.strip()))
            if kind == "all" and not argument:
                return cls("all")
        except ValueError:
            pass
        raise InvalidArgumentError(f"version policy {text!r}: expected latest, latest:N, all or specific:V1,V2,...")

    def select(self, versions: list[int]) -> set[int]:
        """The versions to serve among `versions` (the servable ones on disk)."""
        if self.kind == "all":
            return set(versions)
        if self.kind == "specific":
            return set(versions) & set(self.versions)
        return set(sorted(versions, reverse=True)[:self.num_versions])


class LoadedVersion:
    """One AVAILABLE version: its TF1 session (scanned first unless ``trust``) and SignatureDefs."""

    def __init__(self, version: int, path: str, trust: bool = False):
        self.version = version
        self.path = path
        self.session = ServingSession(path, trust=trust)
        self.signature_defs = self.session.meta_graph.signature_def


@dataclasses.dataclass
class _VersionRecord:
    state: str
    error: str = ""
    fingerprint: tuple = ()  # the files of a version that failed, to try it again only once they change
    exception: BaseException | None = None  # why it failed


def folder_fingerprint(path: str) -> tuple:
    """(relative path, size, mtime) of every file under `path`: changes when anything is written there."""
    entries = []
    for root, _dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            try:
                stat = os.stat(full)
            except OSError:  # removed while we looked: the next poll sees the folder as it then is
                continue
            entries.append((os.path.relpath(full, path), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(entries))


class ModelVersions:
    """A model name over a base directory; its versions' states, kept current by :meth:`start`'s loader thread."""

    def __init__(self, base_dir: str, name: str | None = None, trust: bool = False,
                 policy: VersionPolicy = VersionPolicy(), labels: dict[str, int] | None = None,
                 poll_interval: float = DEFAULT_POLL_INTERVAL):
        self.base_dir = os.path.abspath(base_dir)
        if not os.path.isdir(self.base_dir):
            raise MissingFileError(f"model base directory {self.base_dir} does not exist")
        if poll_interval <= 0:
            raise InvalidArgumentError(f"poll interval {poll_interval}: must be > 0 seconds")
        self.name = name or os.path.basename(self.base_dir.rstrip(os.sep))
        self.trust = trust
        self.policy = policy
        self.labels = dict(labels or {})
        self.poll_interval = poll_interval
        self._records: dict[int, _VersionRecord] = {}
        self._available: dict[int, LoadedVersion] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._first_pass = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the loader ------------------------------------------------------------------------------

    def versions_on_disk(self) -> list[int]:
        """Subfolders named by ASCII digits, highest first."""
        return sorted((int(entry) for entry in os.listdir(self.base_dir)
                       if is_version_name(entry) and os.path.isdir(os.path.join(self.base_dir, entry))),
                      reverse=True)

    def poll(self) -> None:
        """One look at the base directory: loads what the policy picks, then unloads what it no longer picks."""
        on_disk = self.versions_on_disk()
        with self._lock:
            loaded = set(self._available)
        fingerprints = {version: folder_fingerprint(self._path(version)) for version in on_disk if version not in loaded}
        with self._lock:
            for version in set(self._records) - set(on_disk) - set(self._available):
                del self._records[version]  # a bad folder that was removed: forget it
        while to_load := self._to_load(on_disk, fingerprints):  # again when one fails: the policy picks another
            with self._lock:
                self._records.update({version: _VersionRecord(START) for version in to_load})
            for version in to_load:
                self._load(version, fingerprints[version])
        with self._lock:
            keep = self.policy.select([version for version in on_disk if version in self._available])
            for version in sorted(set(self._available) - keep):
                # No request gets it from now on (so no UNLOADING state is ever seen); requests in flight hold
                # the LoadedVersion, whose session closes when the last one drops it.
                del self._available[version]
                self._records[version] = _VersionRecord(END)
                logger.info("model '%s': version %d unloaded", self.name, version)

    def _to_load(self, on_disk: list[int], fingerprints: dict) -> list[int]:
        """What the policy picks among the versions not known to be bad (failed, files unchanged), not yet loaded."""
        with self._lock:
            known_bad = {version for version, record in self._records.items()
                         if record.error and record.fingerprint == fingerprints.get(version)}
            available = set(self._available)
        wanted = self.policy.select([version for version in on_disk if version not in known_bad])
        return sorted(wanted - available, reverse=True)

    def _load(self, version: int, fingerprint: tuple) -> None:
        path = self._path(version)
        with self._lock:
            self._records[version] = _VersionRecord(LOADING)
        try:
            if not any(os.path.isfile(os.path.join(path, name)) for name in _SAVED_MODEL_FILES):
                raise MissingFileError(f"{path} has no saved_model.pb (empty, or still being written)")
            loaded = LoadedVersion(version, path, self.trust)
        except Exception as error:  # noqa: BLE001  (whatever fails, the folder is skipped and the server serves on)
            message = f"cannot load version {version} of model '{self.name}' from {path}: {error}"
            logger.warning("%s; skipped until its files change", message)
            with self._lock:
                self._records[version] = _VersionRecord(END, message, fingerprint, error)
            return
        with self._lock:
            self._available[version] = loaded
            self._records[version] = _VersionRecord(AVAILABLE)
        logger.info("model '%s': version %d AVAILABLE", self.name, version)

    def _path(self, version: int) -> str:
        return os.path.join(self.base_dir, str(version))

    def start(self) -> None:
        """Starts the loader thread (once); returns once its first look (and the loads it started) is done."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"tfhub-llm-loader-{self.name}")
        self._thread.start()
        self._first_pass.wait()

    def _run(self):
        while True:
            try:
                self.poll()
            except Exception:  # noqa: BLE001  (e.g. the base directory removed: keep serving what is loaded)
                logger.exception("model '%s': polling %s failed", self.name, self.base_dir)
            self._first_pass.set()
            if self._stop.wait(self.poll_interval):
                return

    def stop(self) -> None:
        """Stops the loader thread (waits for a load in progress)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # --- what requests see -----------------------------------------------------------------------

    def check_name(self, model_name: str) -> None:
        if model_name != self.name:
            raise RequestError(404, f"Servable not found for request: model '{model_name}' is not served here; "
                                    f"this server serves '{self.name}'")

    def version_of_label(self, label: str) -> int:
        if label not in self.labels:
            raise RequestError(404, f"Unrecognized servable version label: {label}; model '{self.name}' has labels "
                                    f"{sorted(self.labels)}")
        return self.labels[label]

    def available_versions(self) -> list[int]:
        """The AVAILABLE versions, highest first."""
        with self._lock:
            return sorted(self._available, reverse=True)

    def load_failures(self) -> list[BaseException]:
        """Why the versions that failed to load did, highest version first."""
        with self._lock:
            return [record.exception for _, record in sorted(self._records.items(), reverse=True) if record.exception]

    def serving(self, version: int | None = None) -> LoadedVersion:
        """The AVAILABLE version asked for (the highest AVAILABLE one when None)."""
        with self._lock:
            if version is None:
                if not self._available:
                    raise RequestError(503, f"model '{self.name}' has no AVAILABLE version yet "
                                            f"(see GET /v1/models/{self.name})")
                return self._available[max(self._available)]
            if version not in self._available:
                raise RequestError(404, f"Servable not found for request: version {version} of model "
                                        f"'{self.name}' is not AVAILABLE; AVAILABLE: {sorted(self._available)}")
            return self._available[version]

    def status(self, version: int | None = None) -> dict:
        """GetModelStatusResponse as JSON: each known version (or `version`) with its state, highest first."""
        with self._lock:
            records = dict(self._records)
        if version is not None:
            if version not in records:
                raise RequestError(404, f"Could not find version {version} of model '{self.name}'")
            records = {version: records[version]}
        if not records:
            raise RequestError(404, f"Could not find any versions of model '{self.name}' in {self.base_dir}")
        return {"model_version_status": [
            {"version": str(number), "state": record.state,
             "status": {"error_code": "UNKNOWN" if record.error else "OK", "error_message": record.error}}
            for number, record in sorted(records.items(), reverse=True)]}
