"""How long ``tfhub-llm --help`` takes, start to exit, over several runs (a benchmark, not a test).

    .venv/bin/python bench/cli_startup.py [--runs 10]

Runs the installed ``tfhub-llm`` script next to this Python (``python -m tfhub_llm.cli`` when it is
not installed) and prints the CPU, then the median, fastest and slowest wall time and whether each
run stayed under the 1 s target. The machine's load shows in the spread: quote the median.
"""

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from tfhub_llm.cpu_info import read_cpu_info  # noqa: E402  (no TensorFlow)

TARGET_SECONDS = 1.0


def command():
    script = os.path.join(os.path.dirname(sys.executable), "tfhub-llm")
    return [script, "--help"] if os.path.exists(script) else [sys.executable, "-m", "tfhub_llm.cli", "--help"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command(), check=True, stdout=subprocess.DEVNULL)
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    print(f"{' '.join(command()[-2:])} on {read_cpu_info().describe()} (load {os.getloadavg()[0]:.1f}): "
          f"median {median:.3f} s, fastest {min(seconds):.3f} s, slowest {max(seconds):.3f} s over {runs} runs; "
          f"{'under' if median < TARGET_SECONDS else 'OVER'} the {TARGET_SECONDS:.0f} s target")


if __name__ == "__main__":
    main()
