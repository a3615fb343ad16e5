"""Secret references: `${env:NAME}`, `${env:NAME:-default}` and `${file:/path}`.

A Secret keeps its reference for display and its value for use; repr and str are
masked, so a secret printed by accident (a log line, an API answer, a traceback
local) shows `${env:NAME}` and never the value.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import OpscError

REFERENCE = re.compile(r"^\$\{(?P<scheme>env|file):(?P<target>[^}]*?)(?::-(?P<default>[^}]*))?\}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MASK = "********"
MAX_SECRET_FILE_BYTES = 64 * 1024


class SecretUnavailable(OpscError):
    """A secret reference that cannot be resolved (unset variable, unreadable file)."""


@dataclass(frozen=True)
class Secret:
    """A resolved or unresolvable secret; `reveal()` is the only way to the value."""

    reference: str
    _value: str | None = field(default=None, repr=False, compare=False)
    _unavailable: str | None = field(default=None, repr=False, compare=False)

    def reveal(self) -> str:
        if self._value is None:
            raise SecretUnavailable(self._unavailable or f"{self.reference} is not available")
        return self._value

    @property
    def available(self) -> bool:
        return self._value is not None

    @property
    def problem(self) -> str | None:
        return self._unavailable

    def __repr__(self) -> str:
        return f"Secret({self.reference!r})"

    def __str__(self) -> str:
        return self.reference


def is_reference(text: object) -> bool:
    return isinstance(text, str) and REFERENCE.match(text) is not None


def parse_reference(text: str) -> tuple[str, str, str | None] | None:
    """('env'|'file', target, default) or None when `text` is not a reference."""
    m = REFERENCE.match(text)
    if not m:
        return None
    return m.group("scheme"), m.group("target"), m.group("default")


def resolve(text: str, environ: Mapping[str, str] | None = None, base_dir: Path | None = None) -> Secret:
    """Turn a reference into a Secret, resolved now if possible (never raises)."""
    parsed = parse_reference(text)
    if parsed is None:
        raise ValueError(f"not a secret reference: {text!r}")
    scheme, target, default = parsed
    env = os.environ if environ is None else environ
    if scheme == "env":
        value = env.get(target)
        if value is None and default is not None:
            value = default
        if value is None:
            return Secret(text, None, f"environment variable {target} is not set")
        return Secret(text, value)
    path = Path(target)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    value, problem = read_secret_file(path)
    return Secret(text, value, f"cannot read secret file {target}: {problem}" if problem else None)


def read_secret_file(path: Path) -> tuple[str | None, str | None]:
    """(value, None) or (None, why not). Only a regular file of at most MAX_SECRET_FILE_BYTES
    of UTF-8 text: /dev/zero, a FIFO or a binary file must not hang or flood the loader."""
    try:
        with open(path, "rb", opener=_open_nonblocking) as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return None, "not a regular file"
            raw = fh.read(MAX_SECRET_FILE_BYTES + 1)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        return None, getattr(exc, "strerror", None) or str(exc)
    if len(raw) > MAX_SECRET_FILE_BYTES:
        return None, f"larger than {MAX_SECRET_FILE_BYTES} bytes (a secret file holds one value)"
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
    if "\0" in value:
        return None, "contains a NUL byte (not text)"
    # A trailing newline is almost always the editor's, not part of the secret.
    return value.rstrip("\r\n"), None


def _open_nonblocking(path: str, flags: int) -> int:
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    return os.open(path, flags | os.O_NONBLOCK)


def mask_text(text: str, secrets: list[Secret] | tuple[Secret, ...]) -> str:
    """Replace every revealed secret value occurring in `text` by the mask."""
    for s in secrets:
        if s.available and s.reveal() and len(s.reveal()) >= 3:
            text = text.replace(s.reveal(), MASK)
    return text
