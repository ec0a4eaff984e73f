"""The ceiling: FastAPI + uvicorn (uvloop, httptools) in one process, and no model.

The POST route reads the whole body, as a real handler must, and answers a constant
small JSON. Run like the naive app (same stack, ``log_level="warning"``), so the gap
between the two is what the model call and its pre/post-processing cost.

    python bench/apps/empty_fastapi.py PORT
"""

import sys

import uvicorn
from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/classify")
async def classify(request: Request) -> dict[str, object]:
    await request.body()
    return {"top_k": [{"label": "none", "index": 0, "score": 1.0}]}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(
        app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
        loop="uvloop", http="httptools",
    )  # fmt: skip
