"""0..255 pixels -> the value range the model was trained on.

The presets are `keras.applications.imagenet_utils.preprocess_input(x, mode=...)`,
operation for operation in float32, so RGB results are bit-identical to it:

| scale | formula |
|---|---|
| raw | x |
| unit | x / 255 (multiplied by float32(1/255), as the zoo's MNIST path always did) |
| tf | x / 127.5 - 1 |
| torch | (x / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225] |
| caffe | RGB -> BGR, then x - [103.939, 116.779, 123.68] |
| custom | x * factor + offset, then (x - mean) / std per channel |

`preprocess_input` only handles 3 channels (1-channel input raises IndexError and
4 channels swap alpha into the blue slot). Here gray uses the mean of the three
means and stds, as `torchvision`'s gray normalisation does; RGBA normalises its
colour channels and leaves alpha as unit (torch) or raw (caffe) values.
"""

import numpy as np
from numpy.typing import NDArray

from service.card import CustomScale, ScalePreset

_UNIT = np.float32(1.0 / 255.0)
_TORCH_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_TORCH_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
# One-channel stand-ins: the mean of the three values.
_TORCH_GRAY = (_TORCH_MEAN.mean(dtype=np.float32), _TORCH_STD.mean(dtype=np.float32))
_CAFFE_GRAY = _CAFFE_MEAN_BGR.mean(dtype=np.float32)


def scale(levels: NDArray[np.float32], how: ScalePreset | CustomScale) -> NDArray[np.float32]:
    """Scale [h, w, c] float32 0..255 `levels`; returns a new array (or `levels` for raw)."""
    if isinstance(how, CustomScale):
        return _custom(levels, how)
    if how == "raw":
        return levels
    if how == "unit":
        return levels * _UNIT
    if how == "tf":
        return levels / np.float32(127.5) - np.float32(1.0)
    if how == "torch":
        return _torch(levels / np.float32(255.0))
    return _caffe(levels)


def _torch(values: NDArray[np.float32]) -> NDArray[np.float32]:
    """(x - mean) / std on the colour channels; gray takes the mean of mean and std."""
    if values.shape[-1] == 1:
        gray_mean, gray_std = _TORCH_GRAY
        return np.asarray((values - gray_mean) / gray_std, dtype=np.float32)
    result = values.copy()
    result[..., :3] = (values[..., :3] - _TORCH_MEAN) / _TORCH_STD
    return result


def _caffe(levels: NDArray[np.float32]) -> NDArray[np.float32]:
    if levels.shape[-1] == 1:
        return np.asarray(levels - _CAFFE_GRAY, dtype=np.float32)
    result = levels.copy()
    result[..., :3] = levels[..., 2::-1] - _CAFFE_MEAN_BGR
    return result


def _custom(levels: NDArray[np.float32], how: CustomScale) -> NDArray[np.float32]:
    channels = levels.shape[-1]
    values = levels * np.float32(how.factor) + np.float32(how.offset)
    mean = _per_channel(how.mean, channels, "mean", 0.0)
    std = _per_channel(how.std, channels, "std", 1.0)
    return np.asarray((values - mean) / std, dtype=np.float32)


def _per_channel(
    values: tuple[float, ...], channels: int, name: str, default: float
) -> NDArray[np.float32]:
    """One value per channel: none means `default`, a single one applies to every channel."""
    if len(values) not in (0, 1, channels):
        raise ValueError(
            f"scale.{name} has {len(values)} values; the image has {channels} channels"
        )
    return np.asarray(values or (default,), dtype=np.float32)


def check(how: ScalePreset | CustomScale, channels: int) -> None:
    """Raise ValueError if `how` cannot apply to `channels` (a card error, found at load)."""
    if isinstance(how, CustomScale):
        _per_channel(how.mean, channels, "mean", 0.0)
        _per_channel(how.std, channels, "std", 1.0)
