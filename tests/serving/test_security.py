"""Who may reach the service: open paths, Host names (DNS rebinding) and browser Origins, as plain functions."""

from __future__ import annotations

from tfswa.serving.security import (
    default_allowed_hosts,
    host_allowed,
    is_open,
    origin_allowed,
    parse_list,
)


def test_only_the_page_and_healthz_are_open() -> None:
    assert all(is_open(p) for p in ("/", "/healthz", "/static/app.js"))
    for path in ("/metrics", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect", "/v1/jobs", "/anything",
                 "/staticx", "/healthz/x"):
        assert not is_open(path), path


def test_a_loopback_server_answers_only_loopback_host_names() -> None:
    for bind in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        allowed = default_allowed_hosts(bind)
        for host in ("127.0.0.1:8000", "localhost:8000", "LOCALHOST", "[::1]:8000", "localhost"):
            assert host_allowed(host, allowed), (bind, host)
        for host in ("evil.example:8000", "127.0.0.1.evil.example", "", "localhost.evil.example:80"):
            assert not host_allowed(host, allowed), (bind, host)
    assert default_allowed_hosts("0.0.0.0") == ("*",) and host_allowed("anything:1", ("*",))


def test_allowed_host_patterns() -> None:
    allowed = parse_list("Sep.Example.org, *.example.net")
    assert allowed == ("sep.example.org", "*.example.net")
    assert host_allowed("sep.example.org:443", allowed) and host_allowed("a.b.example.net", allowed)
    assert not host_allowed("example.org", allowed) and not host_allowed("evilexample.net", allowed)
    assert parse_list(None) is None and parse_list(" , ") == ()


def test_cross_site_origins_are_refused_same_origin_and_listed_ones_pass() -> None:
    host = "127.0.0.1:8000"
    assert origin_allowed("http://127.0.0.1:8000", host, ())
    assert origin_allowed("https://127.0.0.1:8000/", host, ())  # behind a TLS proxy
    for origin in ("http://evil.example", "http://127.0.0.1:8001", "null", "file://", "http://127.0.0.1"):
        assert not origin_allowed(origin, host, ()), origin
    assert origin_allowed("https://app.example.org", host, ("https://app.example.org",))
    assert origin_allowed("http://evil.example", host, ("*",))
