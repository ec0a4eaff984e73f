"""The generate task's training set-up: one optimizer per network (TTUR)."""

import pytest

from training.tasks.generate import gan_optimizers


def test_gan_optimizers_give_the_critic_and_generator_their_own_rates():
    optimizers = gan_optimizers({"d_lr": 4e-4, "g_lr": 1e-4, "class_weight": 0.0})
    assert set(optimizers) == {"d_optimizer", "g_optimizer"}
    assert float(optimizers["d_optimizer"].learning_rate) == pytest.approx(4e-4)
    assert float(optimizers["g_optimizer"].learning_rate) == pytest.approx(1e-4)
    assert all(float(o.beta_1) == 0.5 for o in optimizers.values())
    assert optimizers["d_optimizer"] is not optimizers["g_optimizer"]


def test_a_class_critic_learns_at_the_critics_rate_with_its_own_optimizer():
    optimizers = gan_optimizers({"d_lr": 4e-4, "g_lr": 1e-4, "class_weight": 0.5})
    critic, classifier = optimizers["d_optimizer"], optimizers["c_optimizer"]
    assert classifier is not critic
    assert float(classifier.learning_rate) == pytest.approx(4e-4)
