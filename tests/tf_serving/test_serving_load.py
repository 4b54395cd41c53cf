"""DevelopmentServer under bounded load on loopback: 8 clients x 200 requests, some malformed."""

import random
import threading
import time

import numpy as np
import tensorflow as tf

from tests.harness import SERVED_MODEL_NAME, build_tiny_model, http_json
from tfhub_llm.tf_serving import DevelopmentServer, ServingClient, ServingError

CLIENTS = 8
REQUESTS_PER_CLIENT = 200
DEADLINE_SECONDS = 60
BAD_EVERY = 10  # every 10th request of a client is malformed, of a kind chosen in turn
BAD_BODIES = [
    (b'{"instances": ["unterminated', "not valid JSON"),
    (b'{"signature_name": "nope", "instances": ["a"]}', "'nope' not found"),
    (b'{"instances": [1, 2, 3]}', "not a valid DT_STRING"),
    (b'{"signature_name": "pair", "inputs": {"question": ["q"], "features": [["x", 1, 2]]}}',
     "not a valid DT_FLOAT"),
]


def make_batches(count: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    alphabet = "abcdefghij ✓é"
    return [["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
             for _ in range(rng.randint(1, 6))] for _ in range(count)]


def test_concurrent_clients_all_answered_correctly(tmp_path):
    base = tmp_path / SERVED_MODEL_NAME
    build_tiny_model(str(base / "1"), scale=1.5)
    loaded = tf.saved_model.load(str(base / "1"))
    batches = make_batches(40, seed=0)
    expected = []
    for texts in batches:
        outputs = loaded.signatures["serving_default"](text=tf.constant(texts))
        expected.append((outputs["probabilities"].numpy(), outputs["label"].numpy().tolist()))

    failures, answered = [], [0] * CLIENTS
    started = time.monotonic()

    with DevelopmentServer(str(base)) as server:
        predict_url = f"{server.url}/v1/models/{SERVED_MODEL_NAME}:predict"

        def run_client(client_index: int):
            client = ServingClient(server.url, SERVED_MODEL_NAME, timeout=30)
            rng = random.Random(client_index)
            for request_index in range(REQUESTS_PER_CLIENT):
                if time.monotonic() - started > DEADLINE_SECONDS:
                    failures.append(f"client {client_index}: deadline passed")
                    return
                try:
                    if request_index % BAD_EVERY == BAD_EVERY - 1:
                        body, fragment = BAD_BODIES[(request_index // BAD_EVERY) % len(BAD_BODIES)]
                        status, answer = http_json(predict_url, body)
                        if status != 400 or fragment not in answer.get("error", ""):
                            failures.append(f"bad request answered {status} {answer}")
                    else:
                        which = rng.randrange(len(batches))
                        probabilities, labels = expected[which]
                        if request_index % 2:
                            outputs = client.predict_columnar({"text": batches[which]})
                        else:
                            rows = client.predict(batches[which])
                            outputs = {"probabilities": [row["probabilities"] for row in rows],
                                       "label": [row["label"] for row in rows]}
                        if (outputs["label"] != labels or not np.array_equal(
                                np.array(outputs["probabilities"], np.float32), probabilities)):
                            failures.append(f"wrong answer for batch {which}: {outputs}")
                except (ServingError, OSError, ValueError) as error:
                    failures.append(f"client {client_index} request {request_index}: {error}")
                answered[client_index] += 1

        threads = [threading.Thread(target=run_client, args=(index,)) for index in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=DEADLINE_SECONDS + 30)
        assert not any(thread.is_alive() for thread in threads), "clients still running"
        assert ServingClient(server.url, SERVED_MODEL_NAME).model_status()["model_version_status"]

    elapsed = time.monotonic() - started
    assert failures == [], failures[:5]
    assert answered == [REQUESTS_PER_CLIENT] * CLIENTS
    print(f"{CLIENTS * REQUESTS_PER_CLIENT} requests in {elapsed:.1f} s "
          f"({CLIENTS * REQUESTS_PER_CLIENT / elapsed:.0f}/s)")
