"""Built-in sample texts for string inputs: TF Serving's warmup requests and the checks of LiteRT exports.

Keyed by the tuple of a signature's input names; :func:`sample_texts` also serves any other one or
two inputs with the single-text or text-pair sentences under their names.
"""

from tfhub_llm.errors import InvalidArgumentError

SAMPLE_TEXTS = {
    ("text",): {"text": ["A gripping, beautifully acted film.", "The plot never comes together.", "ok"]},
    ("text", "text_b"): {
        "text": ["The company posted record profits.", "He left early."],
        "text_b": ["Profits at the company reached an all-time high.", "The meeting ran late."],
    },
    ("question", "context"): {
        "question": ["Who wrote the first program?", "When did the meeting end?"],
        "context": [
            "Ada Lovelace wrote what is often called the first computer program, for Babbage's engine.",
            "The meeting began at nine and ended shortly after noon, when lunch arrived.",
        ],
    },
}


def sample_texts(input_names: tuple[str, ...]) -> dict[str, list[str]]:
    """The built-in texts for the inputs: by name, else the one-text or text-pair ones under these names."""
    input_names = tuple(input_names)
    if input_names in SAMPLE_TEXTS:
        return SAMPLE_TEXTS[input_names]
    by_count = {1: ("text",), 2: ("text", "text_b")}
    if len(input_names) not in by_count:
        raise InvalidArgumentError(f"There are no built-in warmup sentences for the inputs {list(input_names)}: "
                                   "pass warmup_inputs={name: [strings]}.")
    return dict(zip(input_names, SAMPLE_TEXTS[by_count[len(input_names)]].values()))
