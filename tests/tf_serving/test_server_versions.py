"""DevelopmentServer's versions as TF Serving's: background loads, last good version serving, policy, labels, status."""

import logging
import shutil
import threading
import time

import pytest

from tests.harness import SERVED_MODEL_NAME, build_tiny_model, http_json, save_hand_made_encoder, writes_file
from tfhub_llm import cli
from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.tf_serving import DevelopmentServer, ServingClient, VersionPolicy
from tfhub_llm.tf_serving import versions as versions_module
from tfhub_llm.tf_serving.export import next_version

POLL = 0.1  # seconds between the loader's looks, so the tests wait little
WAIT_SECONDS = 120  # the most a test waits for a state it expects (a generous bound, not a timing assertion)
PAIR = {"question": ["q"], "features": [[1.0, 1.0, 1.0]]}  # the pair signature's score is 3 x the version's scale


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Versions 1 and 2 (scale 1 and 2) built once, copied into each test's base directory as it needs them."""
    root = tmp_path_factory.mktemp("exports")
    for version in (1, 2):
        build_tiny_model(str(root / str(version)), scale=float(version))
    return root


def states(server):
    return [(entry["version"], entry["state"]) for entry in
            ServingClient(server.url, SERVED_MODEL_NAME).model_status()["model_version_status"]]


def wait_for(condition, what):
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not reached in {WAIT_SECONDS} s: {what}")
        time.sleep(POLL)


def score(server, **client_options):
    client = ServingClient(server.url, SERVED_MODEL_NAME, signature_name="pair", **client_options)
    return client.predict_columnar(PAIR)["score"][0]


def test_new_version_during_load_no_error_and_no_slow_request(exports, tmp_path, monkeypatch):
    """Clients keep predicting while version 2 is copied in (half-written for a while) and loaded.

    The load is made slow (4 s more, as a big model's) so that a load inside a request, the fault this guards
    against, would show as a request of 4 s or more; steady requests of a tiny model take milliseconds. The bound
    is max(2 x the steady p99, 2 s): the floor keeps a slow, shared CI machine from failing it spuriously and
    stays below the load's 4 s.
    """
    real_load = versions_module.LoadedVersion.__init__

    def slow_load(self, *args, **kwargs):
        time.sleep(4)
        real_load(self, *args, **kwargs)

    base = tmp_path / SERVED_MODEL_NAME
    shutil.copytree(exports / "1", base / "1")
    with DevelopmentServer(str(base), poll_interval=POLL) as server:
        monkeypatch.setattr(versions_module.LoadedVersion, "__init__", slow_load)
        latencies, errors, stop = [], [], threading.Event()

        def client_loop():
            client = ServingClient(server.url, SERVED_MODEL_NAME, signature_name="pair")
            while not stop.is_set():
                started = time.monotonic()
                try:
                    answer = client.predict_columnar(PAIR)["score"][0]
                    latencies.append((started, time.monotonic() - started, answer))
                except Exception as error:  # noqa: BLE001  (every failure is collected and reported)
                    errors.append(repr(error))

        clients = [threading.Thread(target=client_loop) for _ in range(4)]
        for thread in clients:
            thread.start()
        try:
            while len(latencies) < 200:
                time.sleep(0.05)
            steady = sorted(latency for _, latency, _ in latencies)
            p99 = steady[int(0.99 * (len(steady) - 1))]
            copy_started = time.monotonic()
            shutil.copytree(exports / "2", base / "2")
            wait_for(lambda: states(server) == [("2", "AVAILABLE"), ("1", "END")], "version 2 replacing 1")
            time.sleep(0.5)
        finally:
            stop.set()
            for thread in clients:
                thread.join()
    assert not errors, errors[:5]
    during = [(latency, answer) for started, latency, answer in latencies if started >= copy_started]
    assert {answer for _, answer in during} == {3.0, 6.0}  # version 1 answered during the load, then version 2
    bound = max(2 * p99, 2.0)
    assert max(latency for latency, _ in during) < bound, (p99, sorted(during)[-5:])


def test_half_written_version_is_skipped_old_one_serves_status_shows_it(exports, tmp_path, caplog):
    base = tmp_path / SERVED_MODEL_NAME
    shutil.copytree(exports / "1", base / "1")
    with DevelopmentServer(str(base), poll_interval=POLL) as server, \
            caplog.at_level(logging.WARNING, logger=versions_module.__name__):
        (base / "2").mkdir()
        full = (exports / "2" / "saved_model.pb").read_bytes()
        (base / "2" / "saved_model.pb").write_bytes(full[:len(full) // 2])  # an export copied half-way
        wait_for(lambda: ("2", "END") in states(server), "the half-written version reported")
        time.sleep(10 * POLL)  # ten more polls: not tried again while its files do not change
        status = ServingClient(server.url, SERVED_MODEL_NAME).model_status()["model_version_status"]
        assert [(e["version"], e["state"]) for e in status] == [("2", "END"), ("1", "AVAILABLE")]
        assert status[0]["status"]["error_code"] == "UNKNOWN"
        assert str(base / "2") in status[0]["status"]["error_message"]
        assert status[1]["status"] == {"error_code": "OK", "error_message": ""}
        assert score(server) == 3.0  # version 1 keeps serving unversioned requests
        assert http_json(f"{server.url}/v1/models/{SERVED_MODEL_NAME}/metadata")[0] == 200
        assert http_json(f"{server.url}/v1/models/{SERVED_MODEL_NAME}/versions/2/metadata")[0] == 404
        skipped = [record for record in caplog.records if "cannot load version 2" in record.getMessage()]
        assert len(skipped) == 1, [record.getMessage() for record in skipped]
        shutil.rmtree(base / "2")
        shutil.copytree(exports / "2", base / "2")  # the export completed: its files changed, so it is tried again
        wait_for(lambda: states(server) == [("2", "AVAILABLE"), ("1", "END")], "the completed version 2 served")
        assert score(server) == 6.0


def test_folders_that_are_not_versions_are_ignored(exports, tmp_path):
    base = tmp_path / SERVED_MODEL_NAME
    shutil.copytree(exports / "1", base / "1")
    for name in ("²", "٣", "3.tmp-export", "-4"):  # '²' and '٣' pass str.isdigit()
        shutil.copytree(exports / "2", base / name)
    (base / "9").mkdir()  # empty: a version folder being created
    with DevelopmentServer(str(base), poll_interval=POLL) as server:
        assert states(server) == [("9", "END"), ("1", "AVAILABLE")]
        assert score(server) == 3.0


def test_version_policies_and_labels(exports, tmp_path):
    base = tmp_path / SERVED_MODEL_NAME
    for version in ("1", "2"):
        shutil.copytree(exports / version, base / version)
    with DevelopmentServer(str(base), poll_interval=POLL, policy=VersionPolicy("all"),
                           labels={"stable": 1, "canary": 2}) as server:
        assert states(server) == [("2", "AVAILABLE"), ("1", "AVAILABLE")]
        assert (score(server, version=1), score(server)) == (3.0, 6.0)
        assert score(server, label="stable") == 3.0 and score(server, label="canary") == 6.0
        status, answer = http_json(f"{server.url}/v1/models/{SERVED_MODEL_NAME}/labels/stable")
        assert (status, answer["model_version_status"][0]["version"]) == (200, "1")
    with DevelopmentServer(str(base), poll_interval=POLL, policy=VersionPolicy("specific", versions=(1,))) as server:
        assert states(server) == [("1", "AVAILABLE")]
        assert score(server) == 3.0
    with DevelopmentServer(str(base), poll_interval=POLL, policy=VersionPolicy("latest", 1)) as server:
        assert states(server) == [("2", "AVAILABLE")]
        shutil.rmtree(base / "2")  # the served version removed: the next one down is loaded, then it is unloaded
        wait_for(lambda: states(server) == [("1", "AVAILABLE")], "version 1 served once 2 is gone")


def test_no_version_yet_answers_503_then_serves_the_first_one(exports, tmp_path):
    base = tmp_path / SERVED_MODEL_NAME
    base.mkdir()
    with DevelopmentServer(str(base), poll_interval=POLL) as server:
        status, answer = http_json(f"{server.url}/v1/models/{SERVED_MODEL_NAME}/metadata")
        assert status == 503 and "no AVAILABLE version yet" in answer["error"]
        assert http_json(f"{server.url}/v1/models/{SERVED_MODEL_NAME}")[0] == 404
        shutil.copytree(exports / "1", base / "1")
        wait_for(lambda: http_json(f"{server.url}/v1/models/{SERVED_MODEL_NAME}")[0] == 200, "version 1 found")
        wait_for(lambda: states(server) == [("1", "AVAILABLE")], "version 1 AVAILABLE")
        assert score(server) == 3.0


@pytest.mark.parametrize("text, expected", [
    ("latest", VersionPolicy("latest", 1)), ("latest:3", VersionPolicy("latest", 3)), ("all", VersionPolicy("all")),
    ("specific:1,3", VersionPolicy("specific", versions=(1, 3)))])
def test_version_policy_parse(text, expected):
    assert VersionPolicy.parse(text) == expected


@pytest.mark.parametrize("text", ["newest", "latest:0", "latest:x", "specific", "specific:a", "all:2"])
def test_version_policy_parse_rejects(text):
    with pytest.raises(InvalidArgumentError, match="version policy"):
        VersionPolicy.parse(text)


def test_version_refused_by_the_scan_is_skipped_old_one_serves(exports, tmp_path):
    base = tmp_path / SERVED_MODEL_NAME
    shutil.copytree(exports / "1", base / "1")
    target = tmp_path / "pwned"
    with DevelopmentServer(str(base), poll_interval=POLL) as server:
        shutil.copytree(save_hand_made_encoder(str(tmp_path / "writer"), writes_file(str(target))), base / "2")
        wait_for(lambda: ("2", "END") in states(server), "the refused version reported")
        error = ServingClient(server.url, SERVED_MODEL_NAME).model_status()["model_version_status"][0]["status"]
        assert "Refusing to run SavedModel" in error["error_message"] and "WriteFile" in error["error_message"]
        assert score(server) == 3.0
    assert not target.exists()


@pytest.mark.parametrize("flags, fragment", [(["--version-policy", "newest"], "version policy 'newest'"),
                                             (["--label", "stable"], "--label 'stable'"),
                                             (["--max-workers", "0"], "max_workers=0")])
def test_serve_command_rejects_bad_flags(exports, flags, fragment, capsys):
    assert cli.main(["serve", str(exports), "--port", "0", *flags]) == cli.EXIT_BAD_INPUT
    assert fragment in capsys.readouterr().err


def test_serve_command_refuses_to_start_over_nothing_servable(tmp_path, capsys):
    (tmp_path / "base" / "1").mkdir(parents=True)
    assert cli.main(["serve", str(tmp_path / "base"), "--port", "0"]) == cli.EXIT_BAD_INPUT
    assert "has no saved_model.pb" in capsys.readouterr().err


def test_next_export_version_ignores_folders_that_are_not_versions(tmp_path):
    for name in ("3", "²", "٣", "10.tmp-export"):
        (tmp_path / name).mkdir()
    assert next_version(tmp_path) == 4
