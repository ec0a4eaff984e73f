"""The model repository extension of KServe V2 (Triton's `POST /v2/repository/index`)."""

from collections.abc import Sequence

import orjson

from service.errors import InvalidRequestError
from service.ports import Status

# The repository's states in Triton's words.
INDEX_STATES = {"AVAILABLE": "READY", "LOADING": "LOADING"}
INDEX_REASONS = {"UNLOADING": "unloading", "END": "unloaded"}


def parse_index_request(body: bytes) -> bool:
    """Whether a repository index request asks for ready models only (`{"ready": true}`)."""
    if not body.strip():
        return False
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"request body is not valid JSON: {exc}") from exc
    ready = document.get("ready", False) if isinstance(document, dict) else None
    if not isinstance(ready, bool):
        raise InvalidRequestError('send an empty body or {"ready": true | false}')
    return ready


def repository_index(statuses: Sequence[Status], ready_only: bool = False) -> list[dict[str, str]]:
    """Triton's model repository index: one entry per version the repository knows."""
    entries = []
    for status in statuses:
        state = INDEX_STATES.get(status.state, "UNAVAILABLE")
        if ready_only and state != "READY":
            continue
        failed = status.state == "FAILED"
        reason = (status.error or "") if failed else INDEX_REASONS.get(status.state, "")
        entries.append(
            {"name": status.name, "version": str(status.version), "state": state, "reason": reason}
        )
    return entries
