"""Request bodies for each peer's wire format, all carrying the same PNG."""

import json
import struct
from pathlib import Path

BOUNDARY = "benchboundary7MA4YWxkTrZu0gW"


def multipart(png: bytes, field: str) -> bytes:
    """One form part named ``field`` holding the PNG."""
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="item.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    return head + png + f"\r\n--{BOUNDARY}--\r\n".encode()


def triton_binary(png: bytes, input_name: str, output_name: str) -> tuple[bytes, int]:
    """KServe V2 JSON header plus the BYTES tensor as Triton binary data; (body, header length)."""
    element = struct.pack("<I", len(png)) + png
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": input_name,
                    "shape": [1, 1],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(element)},
                }
            ],
            "outputs": [{"name": output_name, "parameters": {"binary_data": False}}],
        }
    ).encode()
    return header + element, len(header)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
