"""/docs and /redoc work offline: every asset from this origin, under a Content-Security-Policy."""

import re

import pytest


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_docs_pages_load_nothing_from_elsewhere(client, page):
    response = client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    scripts = re.findall(r"<script([^>]*)>", html)
    assert scripts and all(f'nonce="{nonce}"' in attributes for attributes in scripts)
    # Another request, another nonce.
    assert nonce not in client.get(page).headers["content-security-policy"]
    for url in re.findall(r'(?:src|href|spec-url)="([^"]+)"', html):
        assert url.startswith("/"), url
        assert client.get(url).status_code == 200, url


def test_assets_are_the_real_bundles(client):
    swagger = client.get("/docs/assets/swagger-ui-bundle.js")
    assert "javascript" in swagger.headers["content-type"] and b"SwaggerUIBundle" in swagger.content
    redoc = client.get("/docs/assets/redoc.standalone.js")
    assert "javascript" in redoc.headers["content-type"] and len(redoc.content) > 500_000
    assert client.get("/docs/assets/swagger-ui.css").headers["content-type"].startswith("text/css")
