"""Request bodies for each peer's wire format, all carrying the same PNG."""

import json
import struct
from collections.abc import Sequence
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
    return triton_binary_images([png], input_name, output_name)


def triton_binary_images(
    pngs: Sequence[bytes], input_name: str, output_name: str
) -> tuple[bytes, int]:
    """`triton_binary` for N images: a BYTES input [N, 1], each element length-prefixed."""
    elements = b"".join(struct.pack("<I", len(png)) + png for png in pngs)
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": input_name,
                    "shape": [len(pngs), 1],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(elements)},
                }
            ],
            "outputs": [{"name": output_name, "parameters": {"binary_data": False}}],
        }
    ).encode()
    return header + elements, len(header)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
