"""`GET /`: the browser playground, a static page that calls only the public API.

The page, its script, stylesheet and the bundled CO2 sample ship inside the package
(`service/static/`), so it works with no network beyond the service. Its Content
Security Policy allows nothing but this origin, which also keeps a stray CDN link
from ever loading. Turned off with `KERASSERVE_PLAYGROUND=false`.
"""

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
STATIC_PATH = "/playground"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)

router = APIRouter(tags=["playground"], include_in_schema=False)


@router.get("/")
async def playground() -> FileResponse:
    """The playground page."""
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache",
    }
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=headers)


@router.get(STATIC_PATH)
async def playground_slash() -> RedirectResponse:
    return RedirectResponse("/")


def install_playground(app: FastAPI) -> None:
    """Serve the page at `/` and its files under `/playground/`."""
    app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="playground")
