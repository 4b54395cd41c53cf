"""Which op types a SavedModel's graphs use: the input to TF Serving compatibility checks."""

import pathlib

from tensorflow.core.protobuf import saved_model_pb2


def saved_model_op_names(path):
    """Every op type in a SavedModel directory's graphs, function library included, as a set of names."""
    pb_path = pathlib.Path(path) / "saved_model.pb"
    if not pb_path.is_file():
        raise FileNotFoundError(f"{pb_path} does not exist: {path} is not a SavedModel directory")
    saved_model = saved_model_pb2.SavedModel()
    try:
        saved_model.ParseFromString(pb_path.read_bytes())
    except Exception as error:  # protobuf raises its own DecodeError, not a ValueError
        raise ValueError(f"{pb_path} is not a SavedModel protobuf: {error}") from error
    names = set()
    for meta_graph in saved_model.meta_graphs:
        names.update(node.op for node in meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            names.update(node.op for node in function.node_def)
    return names
