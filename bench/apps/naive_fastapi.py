"""The reference: the FastAPI app a user writes in ten minutes, model called per request.

python bench/apps/naive_fastapi.py MODEL_DIR PORT
"""

import sys

import uvicorn
from common import decode_png, load_signature, predict, top5
from fastapi import FastAPI, Request

app = FastAPI()
signature = load_signature(sys.argv[1])


@app.post("/classify")
async def classify(request: Request) -> dict[str, object]:
    pixels = decode_png(await request.body())
    return {"top_k": top5(predict(signature, pixels[None])[0])}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
