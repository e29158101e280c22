"""A server that echoes the API key back in an escaped form never gets it shown.

Each echo form (JSON ``\\/`` and ``\\u00XX``, HTML entities, URL encoding, UTF-16, base64, a mix)
is served in error bodies (JSON, HTML, plain text) and 2xx bodies; every text we keep or show
is then decoded in every one of those ways by an independent decoder and must not contain the
key. A key containing ``/`` echoed as ``\\/`` must not reach the event log, the compute logs or
the dead-letter asset of a Dagster run either.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import html
import json
import logging
import pickle
import re
import traceback
from typing import Any
from urllib.parse import unquote, unquote_plus

import dagster as dg
import pytest
from dagster._serdes import serialize_value
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dagster_aha.client import AhaClient, AhaError
from dagster_aha.client.scrub import ECHO_FORMS, encoded_forms
from dagster_aha.destinations import AhaDestination, aha_destination_asset, write_records
from dagster_aha.resource import AhaResource

from .conftest import FAST_CLIENT, FIGURES

#: A key with the characters servers escape: '/', '+', '=', '.', '~'.
SLASH_KEY = "sk-ECHOCANARY/a+b=c.d~e_9f8e7d6c"


def _decoded_views(text: str) -> list[str]:
    """``text`` decoded every way a reader could (independently of the redactor)."""
    views = {text, text.replace("\x00", "")}
    for _ in range(3):
        for v in list(views):
            views.add(html.unescape(v))
            views.add(unquote(v))
            views.add(unquote_plus(v))
            views.add(v.replace("\\/", "/").replace("\\\\", "\\"))
            with contextlib.suppress(UnicodeDecodeError, ValueError):
                views.add(codecs.decode(v.replace("\\/", "/"), "unicode_escape"))
            views.add(re.sub(r"\\u0000|\x00", "", v))
        if len(views) > 4000:
            break
    out = list(views)
    for v in list(views)[:200]:
        for token in re.findall(r"[A-Za-z0-9+/_=-]{12,}", v):
            for pad in ("", "=", "=="):
                for dec in (base64.b64decode, base64.urlsafe_b64decode):
                    try:
                        raw = dec(token + pad)
                    except (binascii.Error, ValueError):
                        continue
                    out.append(raw.decode("utf-8", "replace"))
                    out.append(raw.decode("utf-16-le", "replace"))
    return out


def assert_not_shown(where: str, text: str, key: str = SLASH_KEY) -> None:
    FIGURES.add("echo_texts_checked")
    leaked = any(key in v or key[4:20] in v for v in _decoded_views(text))
    FIGURES.add("echo_leaks", int(leaked))
    assert not leaked, f"the key can be read (after decoding) in {where}: {text[:300]!r}"


def _error_texts(exc: BaseException) -> list[tuple[str, str]]:
    texts = [("str", str(exc)), ("repr", repr(exc)), ("args", repr(exc.args))]
    texts.append(("traceback", "".join(traceback.format_exception(exc))))
    if isinstance(exc, AhaError):
        texts += [("message", exc.message), ("excerpt", exc.body_excerpt or "")]
        texts.append(("pickle", repr(pickle.loads(pickle.dumps(exc)).__dict__)))
    return texts


def _bodies(form: str) -> list[tuple[str, str, str]]:
    """(content type, body, label) servers could answer with, around one echoed form."""
    return [
        ("application/json", '{"error": "Invalid token Bearer ' + form + '"}', "json error"),
        ("application/json", '{"errors": [{"message": "token ' + form + ' revoked"}]}', "errors"),
        ("text/html", f"<html><title>Denied {form}</title><p>token {form}</p></html>", "html"),
        ("text/plain", f"bad token: {form}", "text"),
    ]


@pytest.mark.parametrize("form_name", ECHO_FORMS)
@pytest.mark.parametrize("status", [401, 422, 500])
def test_error_bodies_echoing_the_key_in_any_encoding_never_show_it(
    httpserver: HTTPServer, caplog: pytest.LogCaptureFixture, form_name: str, status: int
) -> None:
    caplog.set_level(logging.DEBUG)
    form = encoded_forms(SLASH_KEY)[form_name]
    FIGURES.add("echo_forms_tried")
    client = AhaClient(
        base_url=httpserver.url_for("/").rstrip("/"),
        api_key=SLASH_KEY,
        **{**FAST_CLIENT, "max_retries": 1},
    )
    with client:
        for ctype, body, label in _bodies(form):
            httpserver.clear()
            httpserver.expect_request("/api/v1/me").respond_with_data(
                body, status=status, content_type=ctype
            )
            with pytest.raises(AhaError) as info:
                client.me()
            for where, text in _error_texts(info.value):
                assert_not_shown(f"{form_name}/{label}/{where}", text)
    for rec in caplog.records:
        assert_not_shown(f"{form_name} log", rec.getMessage())


@pytest.mark.parametrize("form_name", ECHO_FORMS)
def test_2xx_bodies_echoing_the_key_are_redacted_before_parsing(
    httpserver: HTTPServer, form_name: str
) -> None:
    form = encoded_forms(SLASH_KEY)[form_name]
    if "\x00" in form:  # a JSON string holds NULs escaped
        form = json.dumps(form)[1:-1]
    raw = '{"feature": {"id": "1", "name": "token ' + form + '", "reference_num": "PRJ1-1"}}'
    httpserver.expect_request("/api/v1/features/PRJ1-1").respond_with_data(
        raw, content_type="application/json"
    )
    with AhaClient(
        base_url=httpserver.url_for("/").rstrip("/"), api_key=SLASH_KEY, **FAST_CLIENT
    ) as client:
        body = client.request("GET", "features/PRJ1-1")
    assert body is not None and body["feature"]["id"] == "1"  # still valid JSON
    assert_not_shown(form_name, json.dumps(body))
    assert "<redacted>" in body["feature"]["name"]


def test_slash_key_echoed_json_escaped_stays_out_of_event_log_and_dead_letters(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The case seen: a key with '/' echoed as '\\/' reached the event log and dead letters."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("AHA_ECHO_KEY", SLASH_KEY)
    escaped = SLASH_KEY.replace("/", "\\/")

    def echo(request: Request) -> Response:
        body = '{"errors": {"message": "name is invalid for token ' + escaped + '"}}'
        return Response(body, status=422, content_type="application/json")

    httpserver.expect_request("/api/v1/releases/PRJ1-R-1/features").respond_with_handler(echo)

    @dg.asset(key=["intake"])
    def intake() -> list[dict[str, Any]]:
        return [{"name": "A"}, {"name": "B"}]

    dest = AhaDestination(template="create_feature", path_params={"release_id": "PRJ1-R-1"})
    writes = aha_destination_asset(dest, upstream="intake", name="push", fail_on_error=False)
    resource = AhaResource(
        base_url=httpserver.url_for("/").rstrip("/"),
        api_key=dg.EnvVar("AHA_ECHO_KEY"),
        timeout=2.0,
        max_retries=0,
    )
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([intake, writes], resources={"aha": resource}, instance=instance)
    assert result.success
    dead = result.asset_value(dg.AssetKey(["aha", "push_dead_letter"]))
    assert len(dead) == 2
    assert_not_shown("dead letters", json.dumps(dead, default=str))
    assert_not_shown("outcomes", repr(result.asset_value(dg.AssetKey(["aha", "push"]))))
    for entry in instance.all_logs(result.run_id):
        assert_not_shown("event log", serialize_value(entry))
    for rec in caplog.records:
        assert_not_shown("compute log", rec.getMessage())
    # the redacted reason is still there for the user
    assert "name is invalid" in json.dumps(dead, default=str)


def test_write_outcomes_redact_escaped_echoes(httpserver: HTTPServer) -> None:
    escaped = "".join(f"\\u{ord(c):04x}" for c in SLASH_KEY)
    httpserver.expect_request("/api/v1/releases/PRJ1-R-1/features").respond_with_data(
        '{"errors": [{"message": "bad token ' + escaped + '"}]}',
        status=400,
        content_type="application/json",
    )
    dest = AhaDestination(template="create_feature", path_params={"release_id": "PRJ1-R-1"})
    with AhaClient(
        base_url=httpserver.url_for("/").rstrip("/"), api_key=SLASH_KEY, **FAST_CLIENT
    ) as client:
        report = write_records(client, dest, [{"name": "A"}])
    assert report.outcomes[0].status == "failed"
    for text in (report.model_dump_json(), repr(report.dead_letter_rows()), report.summary()):
        assert_not_shown("write report", text)


@pytest.mark.parametrize("key", [SLASH_KEY, "my key with spaces 0123456789abcdef"])
def test_an_echo_in_a_large_page_of_ordinary_records_is_found(key: str) -> None:
    """The redactor skips its pattern on texts that cannot hold an encoded key (no ``\\``,
    ``&``, ``%``, NUL, nor ``+`` for a key with spaces): every form, anywhere in a page of
    ordinary records, is still replaced, and the records around it are left as they were."""
    from dagster_aha.client.scrub import Redactor

    redactor = Redactor(key)
    records = [{"id": str(i), "name": f"Feature {i}", "ref": f"PRJ1-{i}"} for i in range(2000)]
    page = json.dumps({"features": records})
    assert redactor.bytes(page.encode()) == page.encode()  # nothing to replace
    for form_name, form in encoded_forms(key).items():
        for at in (0, len(page) // 2, len(page) - 2):
            text = page[:at] + form + page[at:]
            out = redactor.bytes(text.encode("utf-8", "surrogateescape"))
            shown = out.decode("utf-8", "replace")
            assert_not_shown(f"{form_name} at {at}", shown, key)
            assert shown.count("<redacted>") >= 1, form_name
            assert shown.replace("<redacted>", "") != text  # the form itself went
            assert '"name": "Feature 1999"' in shown
