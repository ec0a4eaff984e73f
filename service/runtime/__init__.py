"""Model runtime: loading, hot reload, dynamic batching and inference. Knows nothing of HTTP.

Import from the modules (``service.runtime.repository``, ``.handle``, ``.errors``,
``.settings``, ``.observer``, ``.status``); this package stays empty so that importing
the error classes does not import TensorFlow.
"""
