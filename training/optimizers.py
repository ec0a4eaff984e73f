"""The optimizer a recipe's hyperparameters ask for."""

import keras

# Decoupled weight decay shrinks weights, not the BatchNorm scales and shifts or biases:
# decaying those only moves the operating point of each unit (Loshchilov and Hutter, 2019).
NOT_DECAYED = ("bias", "gamma", "beta")


def adam(lr: float, weight_decay: float = 0.0) -> keras.optimizers.Optimizer:
    """Adam, or AdamW when ``weight_decay`` is positive (decoupled, kernels only)."""
    if weight_decay < 0.0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    if weight_decay == 0.0:
        return keras.optimizers.Adam(lr)
    optimizer = keras.optimizers.AdamW(lr, weight_decay=weight_decay)
    optimizer.exclude_from_weight_decay(var_names=list(NOT_DECAYED))
    return optimizer


def optimizer_name(weight_decay: float) -> str:
    """The card's name for what :func:`adam` built."""
    return f"adamw (weight decay {weight_decay:g})" if weight_decay > 0.0 else "adam"
