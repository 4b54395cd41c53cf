"""readers.squad: SQuAD JSON → examples, on the real file and on every malformed field."""

import json

import pytest

from tests.harness import DATA
from tfhub_llm.errors import DataError
from tfhub_llm.readers.squad import read_squad

SQUAD_V2 = str(DATA / "squad" / "train-v2.0-first10articles.json")


def test_read_squad_reads_the_real_file():
    with open(SQUAD_V2, encoding="utf-8") as file:
        raw = json.load(file)
    questions = [qa for a in raw["data"] for p in a["paragraphs"] for qa in p["qas"]]
    examples = read_squad(SQUAD_V2)
    assert [e.qas_id for e in examples] == [qa["id"] for qa in questions]
    assert sum(e.is_impossible for e in examples) == sum(qa["is_impossible"] for qa in questions) > 0
    for e in examples:
        assert e.is_impossible == (not e.answers)
        for text, start in e.answers:
            assert e.context[start:start + len(text)] == text
    assert read_squad(raw) == examples


def two_questions():
    """A v2.0 dataset of one paragraph, "Denver Broncos", asked about twice."""
    qas = [{"id": qid, "question": "?", "is_impossible": False, "answers": [{"text": text, "answer_start": start}]}
           for qid, text, start in (("q1", "Denver", 0), ("q2", "Broncos", 7))]
    return {"version": "v2.0", "data": [{"title": "T", "paragraphs": [{"context": "Denver Broncos", "qas": qas}]}]}


def write(tmp_path, dataset, name="bad.json"):
    path = tmp_path / name
    path.write_text(json.dumps(dataset), encoding="utf-8")
    return path


def test_answer_start_that_misses_the_text_is_located(tmp_path):
    dataset = two_questions()
    dataset["data"][0]["paragraphs"][0]["qas"][1]["answers"][0]["answer_start"] = 2
    path = write(tmp_path, dataset)
    with pytest.raises(DataError) as error:
        read_squad(path)
    message = str(error.value)
    for part in (str(path), "article 0 ('T')", "paragraph 0", "question id 'q2'", "'answer_start'", "'Broncos'"):
        assert part in message
    assert error.value.field == "answer_start"


@pytest.mark.parametrize("change, field, problem", [
    (lambda d: d["data"][0]["paragraphs"][0]["qas"][0].pop("question"), "question", "missing"),
    (lambda d: d["data"][0]["paragraphs"][0].pop("context"), "context", "missing"),
    (lambda d: d["data"][0]["paragraphs"][0]["qas"][0]["answers"][0].update(answer_start="3"),
     "answer_start", "expected an integer"),
    (lambda d: d["data"][0]["paragraphs"][0]["qas"][0]["answers"][0].update(answer_start=-1),
     "answer_start", "does not point at"),
    (lambda d: d["data"][0]["paragraphs"][0]["qas"][0].update(is_impossible=True),
     "answers", "marked is_impossible has answers"),
    (lambda d: d["data"][0]["paragraphs"][0]["qas"][1].update(id="q1"), "id", "duplicate question id"),
    (lambda d: d.pop("data"), "data", 'a "data" list'),
])
def test_malformed_squad_names_the_field(tmp_path, change, field, problem):
    dataset = two_questions()
    change(dataset)
    with pytest.raises(DataError, match=problem) as error:
        read_squad(write(tmp_path, dataset))
    assert error.value.field == field


def test_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"data": [\n{"paragraphs": ]}', encoding="utf-8")
    with pytest.raises(DataError, match=r"broken.json: line 2: not valid JSON"):
        read_squad(path)
