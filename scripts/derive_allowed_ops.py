"""Derive tfhub_llm/op_lists/allowed_ops.json and denied_ops.json from TensorFlow's and TF Text's op registries.

Every op type registered by the running TensorFlow and TF Text lands in exactly one of the two
files, by principle rather than by example:

* denied, by family with the reason kept in the data: ops that reach files, the network, other
  processes, Python, summaries or debug dumps, checkpoint I/O, graphs hidden in strings, and the
  escape hatches: ending the process (Abort), XLA custom calls and launches, TPU / infeed / outfeed /
  host-device transfer ops, sleeps and ops that block on a producer (TF1 queues, barriers), and TF1
  loop frames (Enter / Exit / NextIteration, loops the scan cannot bound);
  then every op that the registry marks stateful and that no family below classifies as keeping
  its effects inside the model's own memory (TF1 queues, dataset iterators, TPU and device
  plumbing, session handles, ...);
* allowed: every other op that the registry marks stateless (pure computation), the stateful
  families that only touch the model's own memory (variables, lookup tables, random numbers,
  calls of its own functions, assertions, tensor arrays), and TF Text's ops (tokenizers and
  normalizers, including SentencepieceOp / SentencepieceTokenizeOp and the Fast* ops).

An op that neither file lists is one this TensorFlow does not register (a custom op); the scan
refuses it. ``--verify DIR ...`` names SavedModels every op of which must then be allowed.

Run: python scripts/derive_allowed_ops.py [--check] [--verify SAVEDMODEL ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys

from generated_files import check_current, write_atomically

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tfhub_llm", "op_lists")


@dataclasses.dataclass(frozen=True)
class Family:
    """Ops grouped by what they do: exact names plus full-match name patterns."""

    name: str
    reason: str
    names: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    permitted_in: str | None = None

    def matches(self, op: str) -> bool:
        return op in self.names or any(re.fullmatch(pattern, op) for pattern in self.patterns)


DENIED = (
    Family("file_io", "reads, writes, lists or memory-maps arbitrary files", (
        "ReadFile", "WriteFile", "MatchingFiles", "ImmutableConst", "Skipgram", "FixedUnigramCandidateSampler",
        "GenerateVocabRemapping", "LoadAndRemapMatrix", "DecodeProtoV2", "EncodeProto", "FileSystemSetConfiguration",
        "CalibrationStatisticsSaver")),
    Family("file_readers", "TF1 queue readers that open files named at run time",
           patterns=(r"\w*Reader(V2)?", r"Reader\w+")),
    Family("file_datasets", "tf.data sources and sinks that read or write files or databases", (
        "TFRecordDataset", "TFRecordDatasetV2", "TextLineDataset", "FixedLengthRecordDataset",
        "FixedLengthRecordDatasetV2", "CSVDataset", "CSVDatasetV2", "ExperimentalCSVDataset", "LMDBDataset",
        "ExperimentalLMDBDataset", "MatchingFilesDataset", "ExperimentalMatchingFilesDataset", "SqlDataset",
        "ExperimentalSqlDataset", "SaveDataset", "SaveDatasetV2", "LoadDataset", "ExperimentalLoadDataset",
        "SnapshotDataset", "SnapshotDatasetV2", "SnapshotDatasetReader", "SnapshotNestedDatasetReader",
        "SnapshotChunkDataset", "ListSnapshotChunksDataset", "DatasetToTFRecord", "ExperimentalDatasetToTFRecord",
        "CacheDataset", "CacheDatasetV2", "DistributedSave")),
    Family("table_from_file", "fills a lookup table from a file; fine for the model's own vocabulary asset, not for "
           "a path chosen by the graph", ("InitializeTableFromTextFile", "InitializeTableFromTextFileV2"),
           permitted_in="asset"),
    Family("checkpoint_write", "writes checkpoint files; every SavedModel needs it to save its own variables, nothing "
           "else may call it", ("SaveV2", "MergeV2Checkpoints", "Save", "SaveSlices"), permitted_in="checkpoint_save"),
    Family("checkpoint_read", "reads checkpoint files; every SavedModel needs it to restore its own variables, "
           "nothing else may call it", ("RestoreV2", "Restore", "RestoreSlice"), permitted_in="checkpoint_restore"),
    Family("checkpoint_other", "reads checkpoint files outside the SavedModel's own restore", ("DTensorRestoreV2",)),
    Family("summaries_and_debug", "writes event files, or sends tensors to file:// or grpc:// debug URLs / output "
           "streams", ("Print", "PrintV2", "DumpTensor", "ImportEvent", "StatsAggregatorSetSummaryWriter"), (
               r"DebugIdentity(V2|V3)?", r"DebugNanCount", r"DebugNumericSummary(V2)?",
               r"(Create|Flush|Close)?Summary(File|Db)?Writer", r"Write\w*Summary")),
    Family("python", "calls back into the Python interpreter (arbitrary code)", ("PyFunc", "PyFuncStateless",
                                                                                  "EagerPyFunc")),
    Family("network_and_processes", "talks to other processes or hosts (RPC, tf.data service, collectives, "
           "cross-device send/receive, remote calls)", (
               "RemoteCall", "RegisterDataset", "RegisterDatasetV2", "DeleteRpcFutureResource", "Send", "Recv"), (
               r"\w*Rpc\w*", r"DataServiceDataset\w*", r"Collective\w+", r"_?Nccl\w+", r"_(Host)?(Send|Recv)",
               r"_?Xla\w*(Send|Recv)\w*")),
    Family("hidden_graphs", "runs a graph or program handed to it as a string, which the scan cannot see",
           ("DatasetFromGraph", "XlaCallModule", "MlirPassthroughOp")),
    Family("process_control", "ends the process (Abort, also with exit_without_error): one call kills the server",
           ("Abort",)),
    Family("native_calls", "calls native code or compiled programs the scan cannot see (XLA custom calls into any "
           "linked symbol, launches of XLA executables)", patterns=(r"XlaCustomCall\w*", r"XlaLaunch\w*")),
    Family("tpu_and_device_transfer", "TPU plumbing, infeed / outfeed and host-device copies: no purpose on a "
           "CPU host, and their kernels are not written for inputs from untrusted graphs", (
               "CopyHost", "Copy", "HostConst", "_HostCast"), (
               r"\w*TPU\w*", r"\w*Tpu\w*", r"(Infeed|Outfeed|Prelinearize)\w*", r"_?Xla(Sparse|Spmd)\w*",
               r"XlaSharding", r"XlaReplicaId", r"Xla(AllReduce|ReduceScatter)", r"_Copy\w*")),
    Family("sleep_and_blocking", "waits on purpose: sleeps, or blocks until another producer that a model call "
           "never has (TF1 queues and barriers), so a call or a server thread can hang forever", (), (
               r"\w*Sleep\w*", r"Queue\w*", r"Barrier\w*")),
    Family("tf1_loop_frames", "TF1 dataflow loop primitives (Enter / Exit / NextIteration / LoopCond): loops built "
           "from them have no functional While whose trip count the scan can relate to the inputs", (
               "Enter", "RefEnter", "Exit", "RefExit", "NextIteration", "RefNextIteration", "LoopCond")),
)
UNCLASSIFIED = Family(
    "unclassified_side_effects", "its registration marks it stateful and it is not known to keep its effects "
    "inside the model's own memory (TF1 queues and barriers, dataset iterators, TPU and device plumbing, session "
    "handles, ...)")
ALLOWED_STATEFUL = (
    Family("variables", "reads and updates the model's own resource variables", (
        "VarHandleOp", "_VarHandlesOp", "ReadVariableOp", "_ReadVariablesOp", "AssignVariableOp",
        "AssignAddVariableOp", "AssignSubVariableOp", "VarIsInitializedOp", "VariableShape", "DestroyResourceOp",
        "DisableCopyOnRead", "Variable", "VariableV2", "TemporaryVariable", "ResourceCountUpTo"), (
        r"Resource(Apply|SparseApply|Scatter|ScatterNd)\w+", r"ResourceGather(Nd)?", r"ResourceStridedSliceAssign")),
    Family("lookup_tables", "in-memory lookup tables (vocabularies, label maps) and filling them from tensors", (
        "HashTable", "HashTableV2", "InitializeTableV2"), (
        r"(Anonymous)?Mutable(Dense)?HashTable\w*", r"AnonymousHashTable", r"LookupTable\w+V2")),
    Family("random", "random numbers (dropout, initializers, sampling)", (
        "RandomStandardNormal", "RandomUniform", "RandomUniformInt", "TruncatedNormal",
        "ParameterizedTruncatedNormal", "Multinomial", "RandomShuffle", "RandomGamma", "RandomPoisson",
        "RandomPoissonV2", "RandomCrop", "RngSkip", "RngReadAndSkip", "NonDeterministicInts", "StatelessRandomGetAlg",
        "AllCandidateSampler", "UniformCandidateSampler", "LogUniformCandidateSampler",
        "LearnedUnigramCandidateSampler", "ThreadUnsafeUnigramCandidateSampler"), (
        r"Stateful(Random|Standard|Truncated|Uniform)\w*", r"(Anonymous|Delete|Dummy)(Random)?SeedGenerator")),
    Family("calls_and_control_flow", "calls of the SavedModel's own functions, conditionals and loops",
           ("StatefulPartitionedCall", "If", "While", "Case", "_If", "_While")),
    Family("assertions", "checks that fail the call with an error message", (
        "Assert", "CheckNumerics", "CheckNumericsV2")),
    Family("tensor_arrays", "in-memory tensor arrays and stacks (loops, map_fn)", (
        "Empty", "DeepCopy", "GuaranteeConst"), (r"TensorArray\w*", r"Stack(V2|PushV2|PopV2|CloseV2)?")),
)


def registered_ops():
    """``(core, text)``: op name → OpDef for core TensorFlow, and for what importing TF Text adds."""
    import tensorflow as tf
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session

    def op_defs():
        ops = op_def_pb2.OpList()
        ops.ParseFromString(pywrap_tf_session.TF_GetBuffer(pywrap_tf_session.TF_GetAllOpList()))
        return {op.name: op for op in ops.op}

    core = op_defs()
    import tensorflow_text

    text = {name: op for name, op in op_defs().items() if name not in core}
    return core, text, {"tensorflow": tf.__version__, "tensorflow_text": tensorflow_text.__version__}


def classify(core, text):
    """``(allowed ops, {allowed stateful family: ops}, {denied family: ops})``; each op in one family."""
    registered = {**core, **text}
    missing = {family.name: [op for op in family.names if op not in registered] for family in ALLOWED_STATEFUL}
    if any(missing.values()):
        raise SystemExit(f"allowed families name ops this TensorFlow does not register: {missing}")
    allowed, allowed_families = set(), {family: set() for family in ALLOWED_STATEFUL}
    # Denied names stay denied where this TensorFlow no longer registers them (older SavedModels may use them).
    denied = {family: {op for op in family.names if op not in registered} for family in DENIED}
    denied[UNCLASSIFIED] = set()
    for op, op_def in registered.items():
        family = next((f for f in DENIED if f.matches(op)), None)
        if family is None and op_def.is_stateful and op not in text:
            family = next((f for f in ALLOWED_STATEFUL if f.matches(op)), UNCLASSIFIED)
        if family in denied:
            denied[family].add(op)
        else:
            allowed.add(op)
            if family is not None:
                allowed_families[family].add(op)
    return allowed, allowed_families, denied


def render(core, text, versions):
    allowed, allowed_families, denied = classify(core, text)
    derived_from = f"the op registries of TensorFlow {versions['tensorflow']} and TF Text {versions['tensorflow_text']}"
    allowed_data = {
        "about": "Op types untrusted SavedModels may use: every stateless op, TF Text's ops, and the stateful "
                 f"families below. Generated by scripts/derive_allowed_ops.py from {derived_from}; do not edit.",
        "stateful_families": [
            {"name": family.name, "reason": family.reason, "ops": sorted(ops)}
            for family, ops in allowed_families.items()],
        "tf_text_ops": sorted(text),
        "ops": sorted(allowed),
    }
    denied_data = {
        "about": "Op types tfhub_llm.hub.security refuses in untrusted SavedModels, by family. Never on "
                 "allowed_ops.json. 'permitted_in' names the one place a family is accepted: 'checkpoint_save' / "
                 "'checkpoint_restore' = only in functions reached solely from the SavedModel's own save / restore "
                 "(saver_def, saveable objects), so a restore at load time cannot write files; 'asset' = only when "
                 "the file name is one of the SavedModel's own assets bound to the function. allow_ops=[...] or "
                 f"trust=True override any entry. Generated by scripts/derive_allowed_ops.py from {derived_from}; "
                 "do not edit.",
        "families": [
            {"name": family.name, "reason": family.reason, "ops": sorted(ops),
             **({"permitted_in": family.permitted_in} if family.permitted_in else {})}
            for family, ops in denied.items()],
    }
    return {name: json.dumps(data, indent=1) + "\n" for name, data in
            (("allowed_ops.json", allowed_data), ("denied_ops.json", denied_data))}


def verify(saved_models, rendered):
    """Every op of each SavedModel is allowed, or denied only in a family with a permitted place."""
    sys.path.insert(0, ROOT)
    from tfhub_llm.hub.security import saved_model_op_names

    allowed = set(json.loads(rendered["allowed_ops.json"])["ops"])
    permitted = {op for family in json.loads(rendered["denied_ops.json"])["families"] if "permitted_in" in family
                 for op in family["ops"]}
    problems = []
    for path in saved_models:
        refused = saved_model_op_names(path) - allowed - permitted
        if refused:
            problems.append(f"{path}: ops the lists refuse: {sorted(refused)}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the files on disk differ")
    parser.add_argument("--out-dir", default=DATA, help="where allowed_ops.json and denied_ops.json go")
    parser.add_argument("--verify", nargs="*", default=[], metavar="SAVEDMODEL",
                        help="SavedModel folders whose ops must all be allowed")
    args = parser.parse_args()
    rendered = render(*registered_ops())
    problems = verify(args.verify, rendered)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    if args.check:
        return max(check_current(os.path.join(args.out_dir, name), text, "scripts/derive_allowed_ops.py")
                   for name, text in rendered.items())
    for name, text in rendered.items():
        write_atomically(os.path.join(args.out_dir, name), text)
    counts = {name: len(json.loads(text).get("ops", ())) for name, text in rendered.items()}
    print(f"wrote {counts['allowed_ops.json']} allowed op types to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
