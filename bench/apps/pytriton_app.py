"""PyTriton: Triton's HTTP and gRPC front ends and dynamic batcher (64 rows, 2 ms) over a
Python model.

`fashion_mlp` takes the PNG as a BYTES tensor (over HTTP in Triton's binary-data
extension: the KServe V2 JSON header, then the raw bytes), decoded inside the batched
callable; `fashion_mlp_tensor` takes the decoded pixels as an FP32 tensor (the gRPC
benchmark's tensor rows).

    python bench/apps/pytriton_app.py MODEL_DIR PORT   (also uses PORT+1 and PORT+2)
"""

import sys

import numpy as np
from common import decode_png, load_signature, predict
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

signature = load_signature(sys.argv[1])


@batch  # type: ignore[untyped-decorator]
def infer(image: np.ndarray) -> dict[str, np.ndarray]:
    pixels = np.stack([decode_png(bytes(row[0])) for row in image])
    return {"probabilities": predict(signature, pixels)}


@batch  # type: ignore[untyped-decorator]
def infer_tensor(images: np.ndarray) -> dict[str, np.ndarray]:
    return {"probabilities": predict(signature, images)}


if __name__ == "__main__":
    port = int(sys.argv[2])
    config = TritonConfig(
        http_address="127.0.0.1", http_port=port,
        grpc_address="127.0.0.1", grpc_port=port + 1,
        metrics_address="127.0.0.1", metrics_port=port + 2,
        log_verbose=0,
    )  # fmt: skip
    with Triton(config=config) as triton:
        triton.bind(
            model_name="fashion_mlp",
            infer_func=infer,
            inputs=[Tensor(name="image", dtype=bytes, shape=(1,))],
            outputs=[Tensor(name="probabilities", dtype=np.float32, shape=(10,))],
            config=ModelConfig(
                max_batch_size=64, batcher=DynamicBatcher(max_queue_delay_microseconds=2000)
            ),
            strict=False,
        )
        triton.bind(
            model_name="fashion_mlp_tensor",
            infer_func=infer_tensor,
            inputs=[Tensor(name="images", dtype=np.float32, shape=(28, 28, 1))],
            outputs=[Tensor(name="probabilities", dtype=np.float32, shape=(10,))],
            config=ModelConfig(
                max_batch_size=64, batcher=DynamicBatcher(max_queue_delay_microseconds=2000)
            ),
            strict=False,
        )
        triton.serve()
