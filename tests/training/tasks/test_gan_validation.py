"""The generator's validation checks: what they measure and which epoch they keep."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from training.models import ConditionalGAN, build_discriminator, build_generator
from training.tasks.gan_validation import Check, GeneratorValidation, select_check


def check(epoch, consistency, ratio):
    return Check(epoch, consistency, consistency, ratio * 0.3, ratio)


def test_selection_takes_the_most_consistent_check_within_the_distance_bound():
    checks = [check(5, 0.99, 2.5), check(10, 0.975, 1.8), check(15, 0.97, 0.9)]
    assert select_check(checks, 2.0).epoch == 10  # epoch 5 is more consistent but too far
    tied = [check(20, 0.98, 1.5), Check(25, 0.98, 0.99, 0.3, 1.6)]
    assert select_check(tied, 2.0).epoch == 25  # the better worst class breaks the tie


def test_selection_falls_back_to_the_closest_check():
    checks = [check(5, 0.90, 2.5), check(10, 0.95, 3.0), check(15, 0.93, 2.1)]
    assert select_check(checks, 2.0).epoch == 15
    with pytest.raises(ValueError):
        select_check([], 2.0)


def constant_judge(predicted_class):
    """Always answers ``predicted_class``; its features are the images' row means."""

    def judge(images):
        count = images.shape[0]
        probabilities = tf.one_hot(tf.fill([count], predicted_class), 10)
        features = tf.reduce_mean(tf.reshape(images, [count, 28, 28]), axis=2)
        return {"probabilities": probabilities, "features": features}

    return judge


def digits(count, seed):
    return np.random.default_rng(seed).integers(0, 256, (count, 28, 28), dtype=np.uint8)


def validation(judge, every=1):
    gan = ConditionalGAN(
        build_generator(latent_dim=8, base_filters=8), build_discriminator(), latent_dim=8
    )
    callback = GeneratorValidation(
        judge, digits(50, 0), digits(50, 1), 8, 10, every=every, max_ratio=2.0, seed=3
    )
    callback.set_model(gan)
    callback.set_params({"epochs": 4})
    return gan, callback


def test_a_check_scores_consistency_per_class_and_the_distance_to_validation():
    _, callback = validation(constant_judge(3))
    result = callback.check(epoch=1)
    assert result.consistency == pytest.approx(0.1)  # one class in ten is always right
    assert result.worst_class == 0.0
    assert result.frechet_distance > 0
    assert result.ratio == pytest.approx(result.frechet_distance / callback.real_distance, 1e-2)
    assert len(callback.subset) == 50  # as many generated samples as validation digits


def test_more_samples_per_class_can_be_judged_than_there_are_validation_digits():
    callback = GeneratorValidation(
        constant_judge(3), digits(50, 0), digits(50, 1), 8, 10, 1, 2.0, 3, samples_per_class=7
    )
    assert len(callback.labels) == len(callback.noise) == 70
    assert len(callback.subset) == 50  # the distance still compares like-sized sets


def test_checks_run_every_few_epochs_and_after_the_last():
    _, callback = validation(constant_judge(3), every=3)
    for epoch in range(4):
        callback.on_epoch_end(epoch)
    assert [c.epoch for c in callback.checks] == [3, 4]


def test_training_ends_with_the_weights_of_the_selected_check():
    gan, callback = validation(constant_judge(3))
    scripted = iter([check(1, 0.98, 1.5), check(2, 0.98, 2.5)])
    callback.check = lambda epoch: next(scripted)
    callback.on_epoch_end(0)
    kept = [w.copy() for w in gan.generator.get_weights()]
    gan.generator.set_weights([w + 1.0 for w in kept])
    callback.on_epoch_end(1)
    callback.on_train_end()
    for restored, expected in zip(gan.generator.get_weights(), kept, strict=True):
        np.testing.assert_array_equal(restored, expected)
    assert callback.record()["selected_epoch"] == 1
    assert [c["epoch"] for c in callback.record()["validation_checks"]] == [1, 2]


def test_validating_every_zero_epochs_is_refused():
    with pytest.raises(ValueError, match="validate_every"):
        validation(constant_judge(3), every=0)


def test_the_callback_runs_inside_fit():
    gan, callback = validation(constant_judge(3), every=2)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
    images = np.random.default_rng(0).uniform(-1, 1, (16, 28, 28, 1)).astype(np.float32)
    labels = np.arange(16, dtype=np.int32) % 10
    gan.fit(images, labels, batch_size=8, epochs=3, verbose=0, callbacks=[callback])
    assert [c.epoch for c in callback.checks] == [2, 3]
