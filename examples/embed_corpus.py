"""Embed a corpus with the Beam batch pipeline, then search it: SQuAD paragraphs found by their questions.

Exports a ``TextEmbedder`` for TF Serving, writes the SQuAD paragraphs shipped in ``data/`` as JSON
Lines (one ``{"id", "text"}`` per paragraph), embeds them with ``tfhub_llm.batch.run_batch`` on the
DirectRunner into Parquet shards, reads the shards back, and answers questions by the paragraphs of
highest cosine similarity (recall@1 / @5 against the paragraph each question was written for). Needs
the ``beam`` extra (``pip install "tfhub-llm[beam]"``).

    .venv/bin/python examples/embed_corpus.py                       # MiniLM, all 10 articles' paragraphs
    .venv/bin/python examples/embed_corpus.py --max-paragraphs 50 --direct_running_mode=in_memory

Options it does not know are Beam's pipeline options. Writes ``OUT/embed_corpus/`` (the export, the
corpus, the embeddings and ``metrics.json``).
"""

import json
import pathlib
import shutil

import common
import numpy as np

from tfhub_llm import TextEmbedder
from tfhub_llm.readers.squad import load_squad_json
from tfhub_llm.tasks.embedding_metrics import cosine_matrix
from tfhub_llm.tf_serving import export_for_serving, session_predict

KS = (1, 5)


def paragraphs_and_questions(articles, limit):
    """Up to ``limit`` paragraphs as ``{"id", "text"}``, and each of their questions with its paragraph's index."""
    paragraphs, questions, gold = [], [], []
    for article_index, article in enumerate(articles):
        for paragraph_index, paragraph in enumerate(article["paragraphs"]):
            if len(paragraphs) == limit:
                return paragraphs, questions, np.array(gold)
            paragraphs.append({"id": f"{article_index}/{paragraph_index}", "text": paragraph["context"]})
            for qa in paragraph["qas"]:
                questions.append(qa["question"])
                gold.append(len(paragraphs) - 1)
    return paragraphs, questions, np.array(gold)


def main(argv=None):
    parser = common.parser(__doc__.splitlines()[0])
    parser.add_argument("--squad", default=str(common.DATA / "squad" / "train-v2.0-first10articles.json"))
    parser.add_argument("--max-paragraphs", type=int, default=10_000, help="embed at most this many paragraphs")
    parser.add_argument("--seq-length", type=int, default=256, help="word pieces per text (longer ones are cut)")
    args, beam_options = parser.parse_known_args(argv)
    import pyarrow as pa  # the beam extra's, as is the pipeline: imported after --help
    import pyarrow.parquet as pq

    from tfhub_llm.batch.pipeline import run_batch

    out = pathlib.Path(args.out) / "embed_corpus"
    shutil.rmtree(out, ignore_errors=True)  # a fresh run each time; run_batch itself resumes an OUTPUT folder

    paragraphs, questions, gold = paragraphs_and_questions(load_squad_json(args.squad)["data"], args.max_paragraphs)
    corpus = out / "corpus.jsonl"
    corpus.parent.mkdir(parents=True)
    corpus.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in paragraphs), encoding="utf-8")
    export = export_for_serving(TextEmbedder(args.encoder, args.preprocessor, seq_length=args.seq_length),
                                out / "served")

    summary = run_batch(export, corpus, out / "embeddings", id_column="id", output_format="parquet",
                        pipeline_args=beam_options)
    print(summary.format())
    table = pa.concat_tables(pq.read_table(path) for path in sorted((out / "embeddings").glob("part-*.parquet")))
    ids, vectors = table.column("id").to_pylist(), np.array(table.column("embedding").to_pylist())
    assert ids == [row["id"] for row in paragraphs], "every paragraph is embedded once, in file order"

    similarities = cosine_matrix(session_predict(export, {"text": questions})["embedding"], vectors)
    ranking = np.argsort(-similarities, axis=1, kind="stable")
    recall = {f"recall@{k}": 100 * float(np.mean([gold[q] in ranking[q, :k] for q in range(len(questions))]))
              for k in KS}
    print(f"search: {len(questions)} questions over {len(paragraphs)} paragraphs: "
          + ", ".join(f"{key} {value:.1f}" for key, value in recall.items()))
    best = ranking[0, 0]
    print(f"search: {questions[0]!r} → paragraph {ids[best]} "
          f"({'the gold one' if best == gold[0] else 'not the gold one'}): {paragraphs[best]['text'][:100]!r}...")
    path = common.write_json(out / "metrics.json", {
        "encoder": args.encoder, "paragraphs": len(paragraphs), "questions": len(questions), **recall,
        "rows_scored": summary.rows_scored, "rows_failed": summary.rows_failed, "seconds": summary.seconds})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
