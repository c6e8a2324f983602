"""The API's documentation pages, served whole by the service itself (no CDN).

Owns: ``/api/v1/docs`` (Swagger UI), ``/api/v1/redoc`` (ReDoc) and their scripts, styles and icon
under ``/api/v1/docs-assets/``.  FastAPI's own pages load Swagger UI and ReDoc from a CDN, which a
store without internet cannot reach (a blank page); the files come from the ``fastapi-offline``
package instead, whose ``static`` folder ships the Swagger UI and ReDoc dist files.  Swagger UI's
online validator badge is switched off too (it would send the schema's address to
validator.swagger.io).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PACKAGE = "fastapi_offline"
"""The package whose ``static`` folder holds swagger-ui-bundle.js, swagger-ui.css,
redoc.standalone.js and favicon.png."""


def assets_folder() -> Path:
    return Path(str(resources.files(ASSETS_PACKAGE).joinpath("static")))


def install_docs(app: FastAPI, prefix: str) -> None:
    """Add the documentation pages under ``prefix`` (``/api/v1``) to ``app``, whose own
    ``docs_url`` and ``redoc_url`` must be None."""
    assets = f"{prefix}/docs-assets"
    openapi_url = app.openapi_url or f"{prefix}/openapi.json"
    oauth2_redirect = f"{prefix}/docs/oauth2-redirect"
    app.mount(assets, StaticFiles(directory=assets_folder()), name="docs-assets")

    @app.get(f"{prefix}/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} — Swagger UI",
            swagger_js_url=f"{root}{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{assets}/swagger-ui.css",
            swagger_favicon_url=f"{root}{assets}/favicon.png",
            oauth2_redirect_url=f"{root}{oauth2_redirect}",
            swagger_ui_parameters={"validatorUrl": None},  # over FastAPI's defaults
        )

    @app.get(oauth2_redirect, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(f"{prefix}/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} — ReDoc",
            redoc_js_url=f"{root}{assets}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{assets}/favicon.png",
            with_google_fonts=False,
        )
