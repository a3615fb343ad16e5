"""Email over SMTP: one multipart/alternative message per notification message (plain text and
HTML, the HTML autoescaped), to every address in `to`. `smtp.security`: `starttls` (default;
port 587), `tls` (implicit TLS, port 465) or `none` (port 25); `username`/`password` log in.

smtplib runs on a small thread pool of its own; its socket timeout is the channel's timeout,
so a hung server costs one pool thread for at most that long.
"""
from __future__ import annotations

import asyncio
import re
import smtplib
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from ...pipeline.effects import FIRING
from ..message import Message
from ..templates import render_html, render_message
from .base import DeliveryError, Driver, Outbound

DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
DEFAULT_FROM = "opsconductor@localhost"
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="opsc-smtp")


def _thread(mail: EmailMessage, msg: Message) -> None:
    """One thread per alert and rule in the NOC's mailbox: the firing e-mail's Message-ID is
    derived from them (a resend of it is the same message, which mail clients show once), and
    every later e-mail about the alert (repeat, escalated, released, resolved) answers it with
    In-Reply-To and References. A grouped message (several alerts) starts no thread."""
    domain = str(mail["From"]).rpartition("@")[2].strip(" >") or "opsconductor"
    alert_id = msg.views[0]["id"] if len(msg.views) == 1 else None
    if not alert_id:
        mail["Message-ID"] = make_msgid(domain=domain)
        return
    root = f"<opsc.{alert_id}.{re.sub(r'[^A-Za-z0-9._-]', '-', msg.rule)}@{domain}>"
    if msg.kind == FIRING:
        mail["Message-ID"] = root
    else:
        mail["Message-ID"] = make_msgid(idstring=msg.kind, domain=domain)
        mail["In-Reply-To"] = root
        mail["References"] = root


class EmailDriver(Driver):
    type = "email"

    @property
    def recipient(self) -> str:
        return ", ".join(self.settings["to"])

    def requests(self, msg: Message) -> list[Outbound]:
        rendered = render_message(msg)
        html, errors = render_html(msg, rendered.title)
        mail = EmailMessage()
        mail["Subject"] = rendered.title
        mail["From"] = str(self.settings.get("from", DEFAULT_FROM))
        mail["To"] = ", ".join(self.settings["to"])
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        _thread(mail, msg)
        mail["X-OpsConductor-Rule"] = msg.rule
        mail["X-OpsConductor-Kind"] = msg.kind
        if len(msg.views) == 1 and msg.views[0]["id"]:
            mail["X-OpsConductor-Alert-Id"] = msg.views[0]["id"]
        if msg.group_key:
            mail["X-OpsConductor-Group"] = msg.group_key
        mail.set_content(rendered.text)
        mail.add_alternative(html, subtype="html")
        body = {"subject": rendered.title, "from": mail["From"], "to": list(self.settings["to"]), "text": rendered.text}
        return [Outbound(msg.alerts, body, mail)]

    async def send(self, out: Outbound) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_POOL, self._send_sync, out.data)

    def _send_sync(self, mail: EmailMessage) -> str:
        smtp = self.settings["smtp"]
        security = str(smtp.get("security", "starttls"))
        host, port = str(smtp["host"]), int(smtp.get("port", DEFAULT_PORTS[security]))
        password = self.reveal_in(smtp, "password") if "password" in smtp else None
        client: smtplib.SMTP
        try:
            if security == "tls":
                client = smtplib.SMTP_SSL(host, port, timeout=self.timeout, context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(host, port, timeout=self.timeout)
            with client:
                if security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if "username" in smtp:
                    client.login(str(smtp["username"]), password or "")
                refused = client.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(f"every recipient refused: {self._refusals(exc.recipients)}",
                                retry=all(400 <= c < 500 for c in codes)) from None
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            raise DeliveryError(f"SMTP {exc.smtp_code}: {self.mask(text)}", retry=400 <= exc.smtp_code < 500,
                                status=exc.smtp_code) from None
        except ssl.SSLError as exc:
            raise DeliveryError(f"TLS failed: {self.mask(str(exc))}", retry=False) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"SMTP server does not support it: {self.mask(str(exc))}", retry=False) from None
        except (socket.timeout, TimeoutError):
            raise DeliveryError(f"timed out after {self.timeout:g}s", retry=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            if "timed out" in str(exc):  # smtplib reports a read timeout as a disconnect
                raise DeliveryError(f"timed out after {self.timeout:g}s", retry=True) from None
            raise DeliveryError(f"SMTP connection failed: {type(exc).__name__}: {self.mask(str(exc))}",
                                retry=True) from None
        if refused:
            return f"accepted; refused {self._refusals(refused)}"
        return "250 accepted"

    def reveal_in(self, smtp, key: str) -> str:
        value = smtp[key]
        if hasattr(value, "reveal"):
            if not value.available:
                raise DeliveryError(f"smtp.{key}: {value.problem}", retry=False)
            return value.reveal()
        return str(value)

    def _refusals(self, recipients: dict) -> str:
        return self.mask("; ".join(f"{r}: {code} {msg.decode('utf-8', 'replace') if isinstance(msg, bytes) else msg}"
                                   for r, (code, msg) in recipients.items()))
