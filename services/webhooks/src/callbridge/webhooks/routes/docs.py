"""``/docs``: Swagger UI served by the service itself, so the API reference works offline (no CDN).

The assets come from the ``swagger-ui-bundle-v2`` package (Swagger UI 5, which reads the OpenAPI 3.1
document FastAPI writes)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from swagger_ui_bundle import swagger_ui_path

from callbridge.common.asyncapi import render
from callbridge.webhooks.errors import NotFoundError

router = APIRouter(include_in_schema=False)

ASSETS_PATH = "/docs/assets"
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """The interactive API reference."""
    root = request.scope.get("root_path", "").rstrip("/")
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} API",
        swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon-32x32.png",
        # No badge from the public validator: the page makes no request outside this service.
        swagger_ui_parameters={"validatorUrl": None},
    )


_EVENTS_DOCUMENT: str | None = None


@router.get("/docs/asyncapi.json")
async def asyncapi_document() -> Response:
    """The AsyncAPI 3.0 document of the call events (the same as docs/asyncapi.json), made once."""
    global _EVENTS_DOCUMENT
    if _EVENTS_DOCUMENT is None:
        _EVENTS_DOCUMENT = render()
    return Response(_EVENTS_DOCUMENT, media_type="application/json")


@router.get(ASSETS_PATH + "/{name}")
async def swagger_ui_asset(name: str) -> FileResponse:
    """One of Swagger UI's files, from the installed package."""
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise NotFoundError(f"no documentation asset {name!r}")
    return FileResponse(Path(str(swagger_ui_path)) / name, media_type=media_type)
