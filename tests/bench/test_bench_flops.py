"""The benchmark's matmul FLOP counter (bench/flops.py) against hand counts."""

import importlib.util

import pytest

from tests.harness import REPO

_spec = importlib.util.spec_from_file_location(
    "bench_flops", REPO / "bench" / "flops.py")
flops = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(flops)


def test_one_layer_by_hand():
    shape = flops.EncoderShape(num_layers=1, hidden_size=2, intermediate_size=3)
    # batch 1, length 2: projections 2*2*(4*4 + 2*6) = 112, attention 2*2*1*2*2*2 = 32, pooler 2*1*4 = 8
    assert flops.encoder_flops(shape, 1, 2) == 112 + 32 + 8


def test_layers_scale_and_padding_costs_more():
    shape = flops.MINILM_L6_H384
    one_layer = flops.EncoderShape(1, 384, 1536)
    pooler = 2 * 4 * 384 * 384
    assert flops.encoder_flops(shape, 4, 10) - pooler == 6 * (flops.encoder_flops(one_layer, 4, 10) - pooler)
    assert flops.useful_flops(shape, [5, 10]) < flops.encoder_flops(shape, 2, 10)
    assert flops.useful_flops(shape, [10, 10]) == flops.encoder_flops(shape, 2, 10)


def test_negative_sizes_are_refused():
    with pytest.raises(ValueError, match="seq_length"):
        flops.encoder_flops(flops.MINILM_L6_H384, 1, -1)
