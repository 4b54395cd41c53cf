"""The README's Python blocks run as written (on the tiny model, with a smaller training sample)."""

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# What the run changes in the blocks, each of which must occur: the tiny model for MiniLM, fewer examples.
SMALLER = {"minilm_l6_h384_uncased": "bert_tiny_random_uncased", "range(4000)": "range(64)"}


def readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_the_quickstart_blocks():
    blocks = readme_python_blocks()
    assert len(blocks) >= 2 and "import tfhub_llm" in blocks[0]
    for original in SMALLER:
        assert original in "".join(blocks), f"the README no longer contains {original!r}: update SMALLER"


@pytest.mark.slow
def test_readme_python_blocks_run_in_order(tmp_path):
    script = "".join(readme_python_blocks())
    for original, smaller in SMALLER.items():
        script = script.replace(original, smaller)
    for shared in ("savedmodels", "data"):  # the blocks' relative paths, from a folder their outputs may fill
        (tmp_path / shared).symlink_to(ROOT / shared)
    (tmp_path / "readme.py").write_text(script, encoding="utf-8")
    run = subprocess.run([sys.executable, "readme.py"], cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stderr[-4000:]
    assert (tmp_path / "serving" / "sentiment" / "1" / "saved_model.pb").is_file()
