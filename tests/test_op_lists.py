"""op_lists: the shipped op lists read one way, and a missing one named."""

import pytest

from tfhub_llm.errors import PackageDataError
from tfhub_llm.op_lists import read_op_list


def test_each_shipped_op_list_is_read():
    assert "MatMul" in read_op_list("allowed_ops")["ops"]
    assert all(family["ops"] and family["reason"] for family in read_op_list("denied_ops")["families"])
    assert "2.19" in read_op_list("tf_serving_ops")["releases"]


def test_a_missing_op_list_is_named():
    with pytest.raises(PackageDataError, match="no op list 'allowed'"):
        read_op_list("allowed")
