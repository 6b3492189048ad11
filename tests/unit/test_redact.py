"""Logs never carry credentials: key- and value-based redaction."""

from __future__ import annotations

import io
import logging

import orjson
import pytest

from udfs import jsonlog
from udfs.redact import MASK, is_secret_key, redact, redact_text

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "Password",
        "db_passwd",
        "passphrase",
        "pwd",
        "api_key",
        "x-api-key",
        "apikey",
        "token",
        "sessionToken",
        "access_token",
        "client_secret",
        "aws_secret_access_key",
        "SecretAccessKey",
        "Authorization",
        "proxy-authorization",
        "cookie",
        "private_key",
        "credentials",
    ],
)
def test_secret_keys_are_masked_whatever_the_value(key: str) -> None:
    assert is_secret_key(key)
    assert redact({key: "anything at all", "user": "alice"}) == {key: MASK, "user": "alice"}


@pytest.mark.parametrize("key", ["user", "host", "process_name", "command_line", "sha1", "event_id"])
def test_ordinary_keys_are_kept(key: str) -> None:
    assert not is_secret_key(key)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("net user bob password=Hunter2! /add", "Hunter2!"),
        ("connect --token abc123def456 --verbose", "abc123def456"),
        ("curl -H 'Authorization: Bearer abcdefghijklmnop' https://api", "abcdefghijklmnop"),
        ("Authorization: Basic dXNlcjpzM2NyZXQ=", "dXNlcjpzM2NyZXQ="),
        ("authorization=Token 9f8e7d6c5b4a", "9f8e7d6c5b4a"),
        (f"export AWS_SECRET_ACCESS_KEY={AWS_SECRET}", AWS_SECRET),
        (f"aws key {AWS_SECRET} in a message", AWS_SECRET),
        ("key id AKIAIOSFODNN7EXAMPLE leaked", "AKIAIOSFODNN7EXAMPLE"),
        (f"jwt {JWT}", JWT),
        ("api_key: 'sk_live_abc123'", "sk_live_abc123"),
        ('client_secret="quoted value here"', "quoted value here"),
        ("https://admin:S3cret@db.internal/x", "S3cret"),
        ("gh token ghp_0123456789abcdefghijABCDEFGHIJ012345", "ghp_0123456789abcdefghijABCDEFGHIJ012345"),
    ],
)
def test_secret_values_are_masked_in_free_text(text: str, secret: str) -> None:
    out = redact_text(text)
    assert secret not in out
    assert MASK in out


def test_hex_digests_and_ordinary_text_survive() -> None:
    sha1 = "a8985d3a65e5e5c4b2d7d66d40c6dd2fb19c5436"
    text = f"process powershell.exe on ws-01 hash {sha1}"
    assert redact_text(text) == text


def test_nested_structures_and_depth_cap() -> None:
    value = {"headers": [["Authorization", "Bearer abcdefghijklmnop"]], "cfg": {"db": {"password": "x"}}}
    out = redact(value)
    assert out["cfg"]["db"]["password"] == MASK
    assert "abcdefghijklmnop" not in str(out)
    deep: dict = {}
    node = deep
    for _ in range(40):
        node["n"] = {}
        node = node["n"]
    assert "n" in redact(deep)  # capped, not a RecursionError


def test_json_log_lines_never_carry_secrets() -> None:
    stream = io.StringIO()
    jsonlog.configure(stream=stream)
    try:
        jsonlog.log(
            "login",
            user="alice",
            password="Hunter2!",
            detail=f"key={AWS_SECRET}",
            headers={"Authorization": "Bearer abcdefghijklmnop"},
        )
    finally:
        jsonlog.configure(level=logging.INFO)
    line = orjson.loads(stream.getvalue().splitlines()[-1])
    assert line["password"] == MASK and line["headers"]["Authorization"] == MASK
    assert "Hunter2!" not in stream.getvalue() and AWS_SECRET not in stream.getvalue()
    assert line["user"] == "alice"
