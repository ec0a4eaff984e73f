"""The card-first, signature-second resolution of a version's spec (no TensorFlow)."""

import numpy as np
import pytest

from service.card import CardError, ImageSpec, parse_card
from service.runtime.scores import detect_scores, to_probabilities
from service.runtime.spec import SpecError, resolve_spec
from service.runtime.tensors import TensorInfo

IMAGE = {"x": TensorInfo("float32", (None, 32, 32, 3))}
SCORES = {"output_0": TensorInfo("float32", (None, 5))}


def resolve(card=None, inputs=IMAGE, outputs=SCORES, labels_file=None):
    parsed = parse_card(card) if card is not None else None
    return resolve_spec(parsed, "serve", inputs, outputs, labels_file)


def test_an_image_in_scores_out_model_without_a_card_is_a_classifier():
    spec = resolve()
    assert spec.task == "classify" and spec.classify is not None
    assert spec.classify.input == "x" and spec.classify.output == "output_0"
    assert spec.classify.labels == ("0", "1", "2", "3", "4")
    assert spec.classify.image == ImageSpec(
        size=(32, 32), color="rgb", resize="stretch", interpolation="bilinear", scale="raw"
    )
    assert spec.card.task == "classify" and spec.card.signature_name == "serve"


def test_other_shapes_are_generic_predict_models():
    assert resolve(inputs={"t": TensorInfo("float32", (None, 4))}).task == "predict"
    two = {"a": TensorInfo("float32", (None, 3)), "b": TensorInfo("float32", (None, 2))}
    assert resolve(outputs=two).task == "predict"
    five_channels = {"x": TensorInfo("float32", (None, 8, 8, 5))}
    assert resolve(inputs=five_channels).task == "predict"
    named = {"probabilities": SCORES["output_0"], "features": TensorInfo("float32", (None, 9))}
    assert resolve(outputs=named).classify.output == "probabilities"


def test_labels_come_from_the_card_then_labels_txt_and_must_fit():
    assert resolve(labels_file=list("abcde")).classify.labels == tuple("abcde")
    card = {"labels": list("vwxyz")}
    assert resolve(card, labels_file=list("abcde")).classify.labels == tuple("vwxyz")
    with pytest.raises(SpecError, match=r"labels\.txt name 2 classes; the model has 5"):
        resolve(labels_file=["a", "b"])
    sigmoid = {"p": TensorInfo("float32", (None, 1))}
    assert resolve(outputs=sigmoid).classify.labels == ("0", "1")


def test_a_partial_card_overrides_only_what_it_names():
    spec = resolve({"image": {"scale": "torch", "resize": "crop"}})
    image = spec.classify.image
    assert (image.scale, image.resize, image.size, image.color) == (
        "torch",
        "crop",
        (32, 32),
        "rgb",
    )
    assert resolve({"task": "predict"}).classify is None


def test_open_sizes_need_the_card_and_contradictions_are_refused():
    open_input = {"x": TensorInfo("float32", (None, None, None, 3))}
    with pytest.raises(SpecError, match="spatial size is open"):
        resolve(inputs=open_input)
    assert resolve({"image": {"size": [40, 30]}}, inputs=open_input).classify.image.size == (40, 30)
    with pytest.raises(SpecError, match=r"image\.size height is 40; input 'x' has 32"):
        resolve({"image": {"size": [40, 30]}})
    with pytest.raises(SpecError, match=r"image\.color gray has 1 channels"):
        resolve({"image": {"color": "gray"}})
    uint8 = {"x": TensorInfo("uint8", (None, 32, 32, 3))}
    with pytest.raises(SpecError, match="scale must be raw"):
        resolve({"image": {"scale": "unit"}}, inputs=uint8)
    with pytest.raises(SpecError, match="card says classify"):
        resolve({"task": "classify"}, inputs={"t": TensorInfo("float32", (None, 4))})


def test_unknown_keys_and_wrong_values_refuse_the_card_with_the_reason():
    with pytest.raises(CardError, match="colour: unknown key"):
        parse_card({"colour": "rgb"})
    with pytest.raises(CardError, match=r"image\.resize: Input should be"):
        parse_card({"image": {"resize": "squash"}})
    with pytest.raises(CardError, match=r"image\.scale\.std"):
        parse_card({"image": {"scale": {"factor": 1, "std": [0.0]}}})
    with pytest.raises(CardError, match="must hold a JSON object"):
        parse_card([1, 2])


def test_the_card_must_agree_with_the_signature():
    card = {"inputs": {"x": {"dtype": "float32", "shape": [None, 28, 28, 1]}}}
    with pytest.raises(SpecError, match="input 'x' is float32 \\[N, 32, 32, 3\\]"):
        resolve(card)


def test_scores_are_detected_from_rows_and_turned_into_probabilities():
    assert detect_scores(np.array([[0.2, 0.8], [0.5, 0.5]])) == "probabilities"
    assert detect_scores(np.array([[2.0, -1.0]])) == "logits"
    assert detect_scores(np.array([[0.3], [0.9]])) == "sigmoid"
    assert detect_scores(np.array([[-3.0]])) == "logits"
    logits = to_probabilities(np.array([[0.0, np.log(3.0)]]), "logits")
    np.testing.assert_allclose(logits, [[0.25, 0.75]], rtol=1e-6)
    np.testing.assert_allclose(
        to_probabilities(np.array([[0.9]]), "sigmoid"), [[0.1, 0.9]], rtol=1e-6
    )
    np.testing.assert_allclose(to_probabilities(np.array([[0.0]]), "logits"), [[0.5, 0.5]])
