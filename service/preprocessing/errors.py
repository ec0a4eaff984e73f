"""Errors for uploads that cannot become a model input.

They subclass :class:`service.runtime.errors.InvalidInputError`, so a handler
for bad input catches them too; the HTTP layer may map each to its own status
(413 too large, 415 unsupported format, 400/422 undecodable)::

    InvalidInputError
    └── ImagePreprocessingError
        ├── ImageDecodeError             not an image, or a truncated/corrupt one
        ├── ImageTooLargeError           more pixels than allowed (decompression bombs)
        └── UnsupportedImageFormatError  a real image in a format we do not accept
"""

from service.runtime.errors import InvalidInputError


class ImagePreprocessingError(InvalidInputError):
    """Base of the image upload errors."""


class ImageDecodeError(ImagePreprocessingError):
    pass


class ImageTooLargeError(ImagePreprocessingError):
    pass


class UnsupportedImageFormatError(ImagePreprocessingError):
    pass
