"""The interactive API page at `{base}/docs`: Swagger UI pointed at the gateway's OpenAPI document.

Swagger UI's files come from the swagger-ui-py package (Swagger UI 5, which reads OpenAPI 3.1),
served from `{base}/docs/assets`, so the page works on a machine without internet.
"""

from __future__ import annotations

import html
import importlib.util
import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gateway_core.errors import ConfigError

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - API documentation</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: {document},
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  docExpansion: "list",
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
}});
</script>
</body>
</html>
"""


def swagger_ui_folder() -> Path:
    """The folder of Swagger UI's distribution files inside the installed swagger-ui-py package.
    Found without importing the package: its import pulls in Jinja2 (~0.1 s of start-up)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the swagger-ui-py package is missing: pip install swagger-ui-py")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def docs_routes(base_path: str, title: str) -> list[BaseRoute]:
    """`{base}/docs` (the page) and `{base}/docs/assets/...` (Swagger UI's files)."""
    assets = f"{base_path}/docs/assets"
    page = _PAGE.format(
        title=html.escape(title),
        assets=assets,
        document=json.dumps(f"{base_path}/openapi.json"),
    )

    async def docs(request: Request) -> Response:
        return HTMLResponse(page)

    return [
        Route(f"{base_path}/docs", docs),
        Mount(assets, app=StaticFiles(directory=swagger_ui_folder()), name="docs-assets"),
    ]
