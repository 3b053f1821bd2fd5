"""The security headers of the HTTP services, decided in one place (services.platform.http), on
every response: routes, problems, unknown routes, crashes; over plain HTTP and over TLS (the
ASGI scope's scheme, as the server sets it from its transport)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Response
from fastapi.responses import HTMLResponse

from services.disclosure.web import build_app as disclosure_app
from services.platform.http import (
    API_CONTENT_SECURITY_POLICY,
    ProblemError,
    SecurityHeaders,
    attachment_disposition,
    install_problem_handlers,
)
from services.platform.ratelimit import RateLimiter
from services.submission.api import build_app as submission_app

PAGE_POLICY = "default-src 'none'; style-src 'self'; frame-ancestors 'none'"


def demo_app() -> FastAPI:
    """An app whose paths under /private/ are private, as the submission API's are."""
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/public/record")
    async def record(response: Response) -> dict[str, str]:
        response.headers["Cache-Control"] = "public, max-age=60"
        return {"id": "1"}

    @app.get("/public/page")
    async def page() -> HTMLResponse:
        return HTMLResponse(
            "<p>trang</p>",
            headers={"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "public, max-age=60"},
        )

    @app.get("/public/docs")
    async def docs() -> HTMLResponse:
        return HTMLResponse("<script src='https://cdn.example/ui.js'></script>")

    @app.get("/public/refused")
    async def refused() -> None:
        raise ProblemError(429, "rate-limited", "Too many requests", headers={"Retry-After": "1"})

    @app.get("/public/crash")
    async def crash() -> None:
        raise RuntimeError("a bug")

    @app.get("/private/critique")
    async def critique() -> dict[str, str]:
        return {"id": "2"}

    app.add_middleware(SecurityHeaders, private=lambda path: path.startswith("/private/"))
    return app


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=demo_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def assert_secured(reply: httpx.Response) -> None:
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["x-frame-options"] == "DENY"
    assert reply.headers["referrer-policy"] == "same-origin"
    assert "frame-ancestors 'none'" in reply.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/public/record", 200),
        ("/public/refused", 429),
        ("/public/crash", 500),
        ("/nowhere", 404),
        ("/private/critique", 200),
        ("/private/nowhere", 404),
    ],
)
async def test_every_response_is_unsniffable_unframeable_and_loads_nothing(
    http: httpx.AsyncClient, path: str, status: int
) -> None:
    reply = await http.get(path)
    assert reply.status_code == status
    assert_secured(reply)
    assert reply.headers["content-security-policy"] == API_CONTENT_SECURITY_POLICY
    assert "strict-transport-security" not in reply.headers  # plain HTTP


async def test_a_wrong_method_is_refused_with_allow_and_the_same_headers(
    http: httpx.AsyncClient,
) -> None:
    reply = await http.delete("/public/record")
    assert reply.status_code == 405
    assert reply.headers["allow"] == "GET"
    assert reply.headers["content-type"] == "application/problem+json"
    assert_secured(reply)


async def test_a_page_keeps_its_own_policy_and_other_html_is_at_least_unframeable(
    http: httpx.AsyncClient,
) -> None:
    page = await http.get("/public/page")
    assert page.headers["content-security-policy"] == PAGE_POLICY
    assert page.headers["cache-control"] == "public, max-age=60"
    docs = await http.get("/public/docs")
    assert docs.headers["content-security-policy"] == "frame-ancestors 'none'"
    for reply in (page, docs):
        assert_secured(reply)


async def test_an_anonymous_public_response_keeps_the_caching_its_route_chose(
    http: httpx.AsyncClient,
) -> None:
    reply = await http.get("/public/record")
    assert reply.headers["cache-control"] == "public, max-age=60"


@pytest.mark.parametrize("path", ["/public/record", "/public/page", "/public/refused", "/nowhere"])
async def test_a_response_to_a_request_carrying_credentials_is_never_stored(
    http: httpx.AsyncClient, path: str
) -> None:
    for authorization in ("Bearer sv_org_x", "Basic eDp5", "garbage"):
        reply = await http.get(path, headers={"Authorization": authorization})
        assert reply.headers["cache-control"] == "no-store", (path, authorization)


@pytest.mark.parametrize("path", ["/private/critique", "/private/nowhere"])
async def test_a_private_path_is_never_stored_even_without_credentials(
    http: httpx.AsyncClient, path: str
) -> None:
    assert (await http.get(path)).headers["cache-control"] == "no-store"


async def test_a_crash_is_never_stored() -> None:
    transport = httpx.ASGITransport(app=demo_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        reply = await http.get("/public/crash")
    assert reply.status_code == 500
    assert reply.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/public/record", "/public/crash", "/nowhere", "/public/page"])
async def test_strict_transport_security_is_sent_over_tls_only(path: str) -> None:
    transport = httpx.ASGITransport(app=demo_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        reply = await http.get(path)
    assert reply.headers["strict-transport-security"] == "max-age=31536000"
    assert_secured(reply)


async def test_the_services_apps_send_them_on_routes_they_do_not_have() -> None:
    """Neither app needs its database to answer an unknown route."""
    limiter = RateLimiter(per_second=10, burst=10)
    for app, cache_control in (
        (submission_app(limiter), "no-store"),
        (disclosure_app(limiter), None),
    ):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
            reply = await http.get("/v1/nothing-here")
            assert reply.status_code == 404
            assert reply.headers["content-type"] == "application/problem+json"
            assert_secured(reply)
            assert reply.headers.get("cache-control") == cache_control
            assert reply.headers["strict-transport-security"] == "max-age=31536000"
            stylesheet = await http.get("/static/site.css")
            if app.title.endswith("disclosure API"):
                assert stylesheet.status_code == 200
                assert stylesheet.headers["cache-control"] == "public, max-age=3600"
                assert_secured(stylesheet)


@pytest.mark.parametrize(
    ("uploaded", "fallback", "encoded"),
    [
        (
            "văn bản phản biện.pdf",
            "van ban phan bien.pdf",
            "v%C4%83n%20b%E1%BA%A3n%20ph%E1%BA%A3n%20bi%E1%BB%87n.pdf",
        ),
        ("Đường ĐÊ.pdf", "Duong DE.pdf", "%C4%90%C6%B0%E1%BB%9Dng%20%C4%90%C3%8A.pdf"),
        (
            'a"b\r\nSet-Cookie: x=1.pdf',
            "a_b__Set-Cookie_ x_1.pdf",
            "a%22b__Set-Cookie%3A%20x%3D1.pdf",
        ),
        ("../../etc/passwd", "_.._etc_passwd", "_.._etc_passwd"),
        ("C:\\báo cáo.pdf", "C__bao cao.pdf", "C%3A_b%C3%A1o%20c%C3%A1o.pdf"),
        ("\u202efdp.exe", "_fdp.exe", "_fdp.exe"),
        ("...", "attachment", "attachment"),
    ],
)
def test_an_attachment_is_saved_under_a_safe_name(
    uploaded: str, fallback: str, encoded: str
) -> None:
    disposition = attachment_disposition(uploaded)
    assert disposition == f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    assert disposition.isascii()
    assert disposition.isprintable()
