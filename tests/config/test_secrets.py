from __future__ import annotations

import os

import pytest

from opsconductor.engine.config.secrets import MASK, MAX_SECRET_FILE_BYTES, Secret, SecretUnavailable, is_reference, mask_text, resolve


def test_env_reference_resolves_and_is_masked() -> None:
    s = resolve("${env:TOKEN}", {"TOKEN": "s3cr3t-value"})
    assert s.reveal() == "s3cr3t-value"
    for shown in (repr(s), str(s), f"{s}", repr({"k": s}), repr([s])):
        assert "s3cr3t" not in shown
    assert str(s) == "${env:TOKEN}"


def test_env_default_and_missing() -> None:
    assert resolve("${env:COMMUNITY:-public}", {}).reveal() == "public"
    assert resolve("${env:COMMUNITY:-public}", {"COMMUNITY": "x1"}).reveal() == "x1"
    missing = resolve("${env:NOPE}", {})
    assert not missing.available
    with pytest.raises(SecretUnavailable, match="environment variable NOPE is not set"):
        missing.reveal()


def test_file_reference(tmp_path) -> None:
    f = tmp_path / "key"
    f.write_text("abc123\n")
    assert resolve(f"${{file:{f}}}", {}).reveal() == "abc123"  # editor newline dropped
    rel = resolve("${file:key}", {}, base_dir=tmp_path)
    assert rel.reveal() == "abc123"
    gone = resolve(f"${{file:{tmp_path}/none}}", {})
    assert not gone.available and "cannot read secret file" in gone.problem


def test_reference_syntax() -> None:
    assert is_reference("${env:A_B}") and is_reference("${file:/run/secrets/x}")
    assert not is_reference("prefix ${env:A}") and not is_reference("hunter2") and not is_reference(5)


def test_mask_text() -> None:
    s = resolve("${env:T}", {"T": "tok-12345"})
    assert mask_text("GET /api?apitoken=tok-12345 failed", [s]) == f"GET /api?apitoken={MASK} failed"


def test_secret_equality_ignores_value() -> None:
    assert Secret("${env:A}", "1") == Secret("${env:A}", "2")


@pytest.mark.parametrize("make, why", [
    (lambda d: "/dev/zero", "not a regular file"),
    (lambda d: d, "Is a directory"),
    (lambda d: (os.mkfifo(d / "fifo"), d / "fifo")[1], "not a regular file"),  # would wait for a writer
    (lambda d: ((d / "bin").write_bytes(b"key\xff\xfe\x00"), d / "bin")[1], "not UTF-8 text (byte 0xff at offset 3)"),
    (lambda d: ((d / "nul").write_bytes(b"a\x00b"), d / "nul")[1], "contains a NUL byte"),
    (lambda d: ((d / "big").write_bytes(b"x" * (MAX_SECRET_FILE_BYTES + 1)), d / "big")[1], "larger than 65536 bytes"),
])
def test_file_reference_reads_only_small_regular_text_files(tmp_path, make, why) -> None:
    secret = resolve(f"${{file:{make(tmp_path)}}}", {})
    assert not secret.available and why in secret.problem


def test_file_reference_at_the_size_cap_is_read(tmp_path) -> None:
    (tmp_path / "cap").write_bytes(b"y" * MAX_SECRET_FILE_BYTES)
    assert len(resolve(f"${{file:{tmp_path / 'cap'}}}", {}).reveal()) == MAX_SECRET_FILE_BYTES
