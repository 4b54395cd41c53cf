"""readers.tag_schemes: the scheme of tag sequences and of a model's label names, and the tags each refuses."""

import pytest

from tfhub_llm.readers.tag_schemes import checked_tag_scheme, detect_tag_scheme, tag_problem


def test_tag_schemes_from_data_and_from_label_names():
    assert detect_tag_scheme([["B-PER", "I-PER", "O", "B-LOC"]]) == "IOB2"
    assert detect_tag_scheme([["O", "I-PER", "I-PER"], ["B-PER"]]) == "IOB1"
    assert detect_tag_scheme([["S-PER"], ["B-LOC", "E-LOC"]]) == "IOBES"
    assert checked_tag_scheme(["O", "B-PER", "I-PER"], None) == "IOB2"
    assert checked_tag_scheme(["O", "B-PER", "I-PER"], "IOB1") == "IOB1"
    assert checked_tag_scheme(["O", "S-PER", "B-PER", "I-PER", "E-PER"], None) == "IOBES"
    with pytest.raises(ValueError, match="'E-PER' is not 'O' or B-/I- followed by an entity type"):
        checked_tag_scheme(["O", "B-PER", "E-PER"], "IOB2")
    with pytest.raises(ValueError, match="'PER'"):
        checked_tag_scheme(["O", "PER"], None)
    with pytest.raises(ValueError, match="tag_scheme must be one of"):
        checked_tag_scheme(["O"], "BILOU")


def test_tag_problem_says_what_a_tag_of_the_scheme_looks_like():
    assert [tag_problem(tag) for tag in ("O", "B-PER", "I-LOC", "E-ORG", "S-MISC")] == [None] * 5
    assert tag_problem("X-PER") == "tag 'X-PER' is not 'O' or B-/I-/E-/S- followed by an entity type"
    assert tag_problem("B-") is not None and tag_problem("BPER") is not None
    assert tag_problem("E-PER", "IOB2") == "tag 'E-PER' is not 'O' or B-/I- followed by an entity type (IOB2)"
    assert tag_problem(7) == "expected a tag string, got 7"
