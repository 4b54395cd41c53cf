"""``tfhub-llm finetune --out``: what a user made is never lost: finished runs, failed runs, full disks, Ctrl-C.

Each case runs the command as a user does (a subprocess on the tiny model, a handful of rows, one
epoch), so each pays for importing TensorFlow: all are marked slow.
"""

import json
import os
import signal
import subprocess
import time

import pytest

from tests.harness import (
    CLI_TIMEOUT_SECONDS,
    REPO,
    TINY_ENCODER,
    TINY_PREPROCESSOR,
    assert_one_line_error,
    assert_ordinary_modes,
    cli_command,
    run_cli,
    save_tiny_classifier,
)
from tfhub_llm import cli

TRAIN = "text\tlabel\n" + "".join(f"{text}\t{label}\n" for text, label in [
    ("a gripping film", 1), ("a dull film", 0), ("fine acting", 1), ("a waste of time", 0),
    ("wonderful", 1), ("tedious and slow", 0)])
RUN_FILES = ("model.keras", "best.keras", "metrics.json", "history.json")


def finetune(folder, *options):
    """``finetune classify`` of the tiny model on ``folder/train.tsv`` (written here) into ``folder/out``."""
    folder.mkdir(exist_ok=True)
    (folder / "train.tsv").write_text(TRAIN, encoding="utf-8")
    return cli_command("finetune", "classify", "--encoder", TINY_ENCODER, "--preprocessor", TINY_PREPROCESSOR,
                       "--train", folder / "train.tsv", "--validation", folder / "train.tsv", "--text-column", "text",
                       "--label-column", "label", "--out", folder / "out", "--epochs", 1, "--batch-size", 2, *options)


def run_ok(command):
    result = run_cli(command)
    assert result.returncode == cli.EXIT_OK, result.stderr[-3000:]
    return result


def snapshot(folder):
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


@pytest.mark.slow
def test_a_finished_run_is_refused_and_replaced_only_with_overwrite(tmp_path):
    summary = run_ok(finetune(tmp_path)).stdout  # printed before training
    assert "data: 6 training and 6 validation examples (validation from" in summary
    assert "labels: 0 3 (50%), 1 3 (50%)" in summary and "word pieces per example" in summary
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == sorted(RUN_FILES)
    assert_ordinary_modes(out, *(out / name for name in RUN_FILES))
    finished = snapshot(out)

    for again in (finetune(tmp_path), finetune(tmp_path, "--resume")):
        assert_one_line_error(run_cli(again), "finetune", [str(out), "finished run", "--overwrite"])
        assert snapshot(out) == finished

    run_ok(finetune(tmp_path, "--overwrite", "--seed", 1))
    replaced = snapshot(out)
    assert sorted(replaced) == sorted(RUN_FILES) and replaced["model.keras"] != finished["model.keras"]
    assert sorted(os.listdir(tmp_path)) == ["out", "train.tsv"]  # no staging folder left behind


@pytest.fixture
def full_disk(tmp_path):
    """A 2 MB tmpfs, smaller than any model: every write of a model to it runs out of space."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return save_tiny_classifier(tmp_path_factory.mktemp("model") / "model.keras")


def _files(folder):
    return [os.path.join(parent, name) for parent, _, names in os.walk(folder) for name in names]


@pytest.mark.slow
def test_a_full_disk_ends_a_run_with_one_line_and_leaves_no_checkpoint(tmp_path, full_disk):
    command = finetune(tmp_path)
    command[command.index("--out") + 1] = str(full_disk / "run")
    assert_one_line_error(run_cli(command), "finetune", ["No space left on device"])
    assert _files(full_disk) == []  # nothing that --resume could take for a checkpoint


@pytest.mark.slow
@pytest.mark.parametrize("target", ["serving", "hub"])
def test_a_full_disk_ends_an_export_with_one_line_and_writes_nothing(model_file, full_disk, target):
    result = run_cli(cli_command("export", target, model_file, full_disk / "out"))
    assert_one_line_error(result, "export", ["No space left on device"])
    assert _files(full_disk) == []


@pytest.mark.slow
def test_ctrl_c_says_how_to_resume_and_the_resumed_history_is_whole(tmp_path):
    metadata = tmp_path / "out" / "backup" / "training_metadata.json"
    command = finetune(tmp_path)
    command[command.index("--epochs") + 1] = "500"  # far more than run before the interrupt
    # Ctrl-C as a terminal sends it: SIGINT handled, even when this test runs in a background job (SIGINT ignored)
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        while not metadata.exists() and process.poll() is None:  # the first epoch's backup
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=CLI_TIMEOUT_SECONDS)
    finally:
        process.kill()
    assert process.returncode == 130, stderr[-3000:]
    assert "interrupted" in stderr and "--resume" in stderr and "Traceback" not in stderr, stderr[-3000:]

    finished_epochs = json.loads(metadata.read_text())["epoch"]
    resume = finetune(tmp_path, "--resume")
    resume[resume.index("--epochs") + 1] = str(finished_epochs + 1)  # one more epoch than were finished
    run_ok(resume)
    history = json.loads((tmp_path / "out" / "history.json").read_text())
    assert len(history["loss"]) == len(history["val_loss"]) == finished_epochs + 1
