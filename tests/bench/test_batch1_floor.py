"""bench/batch1_floor.py: oneDNN's matmul and reorder time per call, read from its verbose log."""

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "bench"))
import batch1_floor  # noqa: E402

INNER = ("onednn_verbose,v1,primitive,exec,cpu,inner_product,brgemm:avx512_core,forward_inference,"
         "src:f32::blocked:ab::f0 wei:f32:a:blocked:AB16b32a::f0 bia:f32:a:blocked:a::f0 dst:f32::blocked:ab::f0,"
         "attr-scratchpad:user,,mb17ic384oc1536,{ms}")
MATMUL = ("onednn_verbose,v1,primitive,exec,cpu,matmul,brg_matmul:avx512_core,undef,src:f32::blocked:abcd::f0 "
          "wei:f32::blocked:abdc::f0 dst:f32::blocked:abcd::f0,attr-scratchpad:user,,1x12x17x32:1x12x32x17,{ms}")
SOFTMAX = ("onednn_verbose,v1,primitive,exec,cpu,softmax,jit:avx512_core,forward_inference,"
           "src:f32::blocked:abcd::f0 dst:f32::blocked:abcd::f0,,alg:softmax_accurate axis:3,1x12x17x17,{ms}")
REORDER = ("onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,src:f32::blocked:ba::f0 "
           "dst:f32::blocked:AB16b32a::f0,,,384x1536,{ms}")
CREATE = ("onednn_verbose,v1,primitive,create:cache_miss,cpu,inner_product,brgemm:avx512_core,forward_inference,"
          "src:f32::blocked:ab::f0,,,mb17ic384oc1536,{ms}")


def test_sums_the_matmuls_and_reorders_of_each_call_only():
    lines = [
        INNER.format(ms=9.0),  # a warm-up call before the marker
        "call variables short", INNER.format(ms=0.5), MATMUL.format(ms=0.25), SOFTMAX.format(ms=4.0),
        CREATE.format(ms=7.0), "end",
        INNER.format(ms=9.0),
        "call constants short", INNER.format(ms=0.125), "end",
        "call constants short", INNER.format(ms=0.5), REORDER.format(ms=2.0), INNER.format(ms=0.5), "end",
        "call constants median", "end",
    ]
    assert batch1_floor.primitive_ms_by_call(lines) == {
        "variables": {"short": [{"matmul": pytest.approx(0.75), "reorder": 0.0}]},
        "constants": {"short": [{"matmul": 0.125, "reorder": 0.0}, {"matmul": 1.0, "reorder": 2.0}],
                      "median": [{"matmul": 0.0, "reorder": 0.0}]}}
