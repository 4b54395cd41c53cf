"""Issue 28's batch-1 floor: how fast TensorFlow's own kernels run the encoder on one sentence.

    .venv/bin/python bench/batch1_floor.py [--rounds 5] [--calls 200] [--sentence-batches 16]

On ``make bench``'s short and median-length sentences (the same held-out SST-2 sentences, packed by the
embedded MiniLM preprocessor outside the timing), the embedded MiniLM encoder's ``serving_default`` runs in
a TF1 session, as TF Serving runs a SavedModel, two ways:
  * ``variables``: the SavedModel as saved, its weights read from variables (what every export holds);
  * ``constants``: the same signature with its weights frozen into the graph as constants
    (``convert_variables_to_constants_v2``), the only case in which oneDNN keeps its reordered weights
    between calls instead of packing them on every call.
It prints the median of the rounds' p50 of each, and, from oneDNN's verbose log of a few calls of each (a
child process run with ``ONEDNN_VERBOSE=1``), the median time of its matmul primitives and of its weight
reorders. With constants, the matmul time is what TensorFlow's float32 kernels spend at their best on the
encoder's matmuls at batch 1, before any other op; a reorder time above zero means the weights were packed
again on that call (oneDNN's cached layout did not serve it).
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
BENCH = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import workload as wl  # noqa: E402
from heldout import heldout_sentences  # noqa: E402

ROOT = BENCH.parent
MINILM = ROOT / "savedmodels" / "minilm_l6_h384_uncased"
WAYS = ("variables", "constants")
VERBOSE_CALLS = 9  # calls logged by oneDNN per way and sentence; their median is reported
MATMUL_PRIMITIVES = ("inner_product", "matmul")  # oneDNN's dense layers, and the attention's batched matmuls


def batch1_inputs(sentence_batches):
    """``{"short": inputs, "median": inputs}``: each sentence packed alone to its own length (numpy int32)."""
    import tensorflow as tf

    from tfhub_llm.layers.hub_layers import HubPreprocessor

    inference = heldout_sentences(ROOT / "data" / "sst2" / "train.tsv")["texts"][:sentence_batches * wl.BATCH_SIZE]
    preprocessor = HubPreprocessor(str(MINILM / "preprocessor"), pad_to_longest=True)
    return {name: {key: value.numpy() for key, value in preprocessor(tf.constant([text])).items()}
            for name, text in (("short", wl.SHORT_SENTENCE), ("median", wl.median_by_words(inference)))}


def session_runner(way):
    """A function running the encoder's ``serving_default`` on a dict of int32 arrays in a TF1 session."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    tf1 = tf.compat.v1
    encoder = tf.saved_model.load(str(MINILM / "encoder"))  # holds the variables the signature reads
    signature = encoder.signatures["serving_default"]
    names = sorted(signature.structured_input_signature[1])
    frozen = convert_variables_to_constants_v2(signature) if way == "constants" else None
    graph = tf.Graph()
    with graph.as_default():
        session = tf1.Session(graph=graph)
        if frozen is not None:
            feeds = {name: tf1.placeholder(tf.int32, [None, None], name=name) for name in names}
            input_map = {tensor.name: feeds[tensor.name.split(":")[0]] for tensor in frozen.inputs}  # named as keys
            output = tf.nest.pack_sequence_as(signature.structured_outputs, frozen.outputs)["pooled_output"].name
            [fetch] = tf1.import_graph_def(frozen.graph.as_graph_def(), input_map=input_map, return_elements=[output])
        else:
            signature_def = tf1.saved_model.loader.load(session, ["serve"], str(MINILM / "encoder")).signature_def
            feeds = {name: graph.get_tensor_by_name(signature_def["serving_default"].inputs[name].name) for name in names}
            fetch = graph.get_tensor_by_name(signature_def["serving_default"].outputs["pooled_output"].name)
    return lambda arrays: session.run(fetch, {feeds[name]: arrays[name] for name in names})


def p50_ms(run, arrays, calls):
    """Median milliseconds of ``calls`` calls."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        run(arrays)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def onednn_ms_by_call(sentence_batches):
    """:func:`primitive_ms_by_call` of warm calls logged by oneDNN (a child process)."""
    env = dict(os.environ, ONEDNN_VERBOSE="1")
    output = subprocess.run([sys.executable, __file__, "--verbose-child", "--sentence-batches", str(sentence_batches)],
                            env=env, capture_output=True, text=True, check=True).stdout
    return primitive_ms_by_call(output.splitlines())


def primitive_ms_by_call(lines):
    """``{way: {sentence: [{"matmul": ms, "reorder": ms} of each call]}}``: the exec times of oneDNN's matmul
    primitives and of its reorders, summed between each ``call WAY SENTENCE`` line and the next ``end``."""
    result, calls = {}, None
    for line in lines:
        if line.startswith("call "):
            way, sentence = line.split()[1:3]
            calls = result.setdefault(way, {}).setdefault(sentence, [])
            calls.append({"matmul": 0.0, "reorder": 0.0})
        elif line == "end":
            calls = None
        elif calls is not None and line.startswith("onednn_verbose,") and ",exec," in line:
            fields = line.split(",")
            kind = "matmul" if fields[5] in MATMUL_PRIMITIVES else fields[5]
            if kind in calls[-1]:
                calls[-1][kind] += float(fields[-1])
    return result


def verbose_child(inputs, calls):
    """``calls`` warm calls of each way on each sentence, each between ``call WAY SENTENCE`` and ``end`` (stdout)."""
    for way in WAYS:
        run = session_runner(way)
        for sentence, arrays in inputs.items():
            for _ in range(10):
                run(arrays)
            for _ in range(calls):
                print(f"call {way} {sentence}", flush=True)
                run(arrays)
                print("end", flush=True)


def median_of(calls, kind):
    return statistics.median(call[kind] for call in calls)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=wl.LATENCY_CALLS)
    parser.add_argument("--sentence-batches", type=int, default=16, help="as bench/run.py's (the median sentence's pool)")
    parser.add_argument("--verbose-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    inputs = batch1_inputs(args.sentence_batches)
    if args.verbose_child:
        return verbose_child(inputs, VERBOSE_CALLS)
    from tfhub_llm.cpu_info import read_cpu_info

    runners = {way: session_runner(way) for way in WAYS}
    for run in runners.values():
        for arrays in inputs.values():
            for _ in range(20):
                run(arrays)
    rounds = {(way, sentence): [] for way in WAYS for sentence in inputs}
    for index in range(args.rounds):
        order = WAYS if index % 2 == 0 else WAYS[::-1]
        for way in order:
            for sentence, arrays in inputs.items():
                rounds[way, sentence].append(p50_ms(runners[way], arrays, args.calls))
    onednn = onednn_ms_by_call(args.sentence_batches)
    print(f"CPU: {read_cpu_info().describe()}; load average {os.getloadavg()[0]:.1f}")
    print("tokens: " + ", ".join(f"{name} {arrays['input_word_ids'].shape[1]}" for name, arrays in inputs.items()))
    print("| encoder weights | sentence | median p50 ms (rounds) | oneDNN per call, median ms: matmuls / weight reorders |")
    print("| --- | --- | ---: | ---: |")
    for (way, sentence), values in rounds.items():
        print(f"| {way} | {sentence} | {statistics.median(values):.2f} ({', '.join(f'{v:.2f}' for v in values)}) | "
              f"{median_of(onednn[way][sentence], 'matmul'):.2f} / {median_of(onednn[way][sentence], 'reorder'):.2f} |")
    print(json.dumps({"rounds": {f"{way}/{sentence}": values for (way, sentence), values in rounds.items()},
                      "onednn_ms_by_call": onednn}))


if __name__ == "__main__":
    main()
