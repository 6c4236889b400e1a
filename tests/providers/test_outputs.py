"""The shared helpers of relay.providers.outputs."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.providers.base import Output
from relay.providers.outputs import OutputCollector, coerce_progress, is_http_url, kind_for, task_id_of


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (0, 0),
        (100, 100),
        ("45", 45),
        ("45%", 45),
        (" 45 % ", 45),
        (45.9, 45),
        ("99.9", 99),
        (101, 100),
        (-1, 0),
        ("100%", 100),
        (None, None),
        (True, None),
        ("abc", None),
        ("", None),
        ("nan", None),
        ("inf", None),
        (float("inf"), None),
        ([45], None),
        ({"p": 1}, None),
    ],
)
def test_coerce_progress(raw: Any, value: int | None) -> None:
    assert coerce_progress(raw) == value


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("abc", "abc"),
        (" abc ", "abc"),
        (12, "12"),
        ("", None),
        (" ", None),
        (None, None),
        (True, None),
        (1.5, None),
        ([], None),
    ],
)
def test_task_id_of(raw: Any, value: str | None) -> None:
    assert task_id_of(raw) == value


@pytest.mark.parametrize(
    ("url", "hint", "kind"),
    [
        ("https://x/v", "video_url", "video"),
        ("https://x/a", "audio_url", "audio"),
        ("https://x/i", "cdnImage", "image"),
        ("https://x/i", "image_url", "image"),
        ("https://x/v.mp4", "thumbnail_url", "image"),
        ("https://x/a.webm", None, "video"),
        ("https://x/a.GIF", None, "image"),
        ("https://x/a.m4a", "url", "audio"),
        ("https://x/a.bin", None, "file"),
        ("https://x.mp4/", None, "file"),
    ],
)
def test_kind_for(url: str, hint: str | None, kind: str) -> None:
    assert kind_for(url, hint) == kind


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("https://a.example/x", True),
        ("HTTP://a.example/x", True),
        ("ftp://a.example/x", False),
        ("https://", False),
        ("https://a b/x", False),
        ("http://[", False),
        ("/relative/path.png", False),
        (None, False),
        (3, False),
    ],
)
def test_is_http_url(value: Any, ok: bool) -> None:
    assert is_http_url(value) is ok


def _is_http_url_by_urlsplit(value: str) -> bool:
    """The definition is_http_url's one-match fast path must agree with."""
    if not value.lower().startswith(("http://", "https://")) or any(char.isspace() for char in value):
        return False
    try:
        return bool(urlsplit(value).netloc)
    except ValueError:
        return False


@given(
    st.sampled_from(["http://", "https://", "HTTPS://", "Http://", "ftp://", "http:/", ""]),
    st.text(alphabet=st.sampled_from("az09.-_~%!$&'()*+,;=:@[]/?# \t\u00e9\u2028\x00\uff0e"), max_size=12),
    st.text(max_size=6),
)
def test_is_http_url_agrees_with_urlsplit(scheme: str, host: str, rest: str) -> None:
    value = scheme + host + rest
    assert is_http_url(value) is _is_http_url_by_urlsplit(value)


def test_collector_dedups_in_first_seen_order() -> None:
    collector = OutputCollector()
    collector.walk(
        {
            "images": ["https://a/1", "https://a/2"],
            "image_url": "https://a/2",
            "callbackUrl": "https://hook/x",
            "prompt_image": "https://in/x.png",
            "result": {"video": {"url": "https://a/3"}},
        }
    )
    assert collector.outputs() == (
        Output("https://a/1", "image"),
        Output("https://a/2", "image"),
        Output("https://a/3", "video"),
    )


def test_collector_survives_deep_nesting() -> None:
    deep: Any = "https://a/deep.png"
    for _ in range(5000):
        deep = [deep]
    collector = OutputCollector()
    collector.walk({"data": deep})
    assert collector.outputs() == ()


def test_collector_deeply_nested_embedded_json() -> None:
    collector = OutputCollector()
    collector.walk({"resultJson": "[" * 100_000 + "]" * 100_000})
    assert collector.outputs() == ()
