"""A configured default model that the repository does not have falls back to the only
model of the task (the image's zoo defaults over a mounted directory of one classifier);
one it has, in any state, answers for itself."""

from tests.fakes.models import FakeRepository, FakeStatus, fake_classifier, fake_forecaster
from tests.service.api.util import assert_problem, png_bytes

ZOO_DEFAULTS = {"classify": "fashion_cnn", "forecast": "co2_lstm", "generate": "mnist_cgan"}


def _classify(client):
    return client.post("/v1/classify", content=png_bytes(), headers={"content-type": "image/png"})


def test_an_unserved_default_falls_back_to_the_only_model(make_client):
    client = make_client(
        FakeRepository(fake_classifier("mine"), fake_forecaster("fc")),
        default_models=ZOO_DEFAULTS,
    )
    answer = _classify(client)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == "mine"
    forecast = client.post("/v1/sequence/predict", json={"series": [1, 2, 3, 4]})
    assert forecast.status_code == 200, forecast.text
    assert forecast.json()["model"] == "fc"


def test_an_unserved_default_among_several_asks_for_a_name(make_client):
    client = make_client(
        FakeRepository(fake_classifier("a"), fake_classifier("b")), default_models=ZOO_DEFAULTS
    )
    body = assert_problem(_classify(client), 422, "model_required")
    assert "a, b" in body["detail"]


def test_a_served_default_is_used_even_when_it_is_not_available(make_client):
    repository = FakeRepository(fake_classifier("mine"))
    repository.failed.append(FakeStatus("fashion_cnn", 1, "LOADING", None, None, None, None))
    client = make_client(repository, default_models=ZOO_DEFAULTS)
    assert_problem(_classify(client), 503, "model_not_ready")
    served = make_client(
        FakeRepository(fake_classifier("fashion_cnn"), fake_classifier("other")),
        default_models=ZOO_DEFAULTS,
    )
    assert _classify(served).json()["model"] == "fashion_cnn"
