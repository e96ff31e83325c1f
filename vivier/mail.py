"""Outgoing e-mail: every message is recorded in the outbox table, then sent through SMTP when it is configured.

Recording is what a web request does (with the rest of its changes, in its transaction); delivery is a job of
the background worker (vivier.jobs, MAIL_JOB): a slow or absent SMTP server never holds a request, and a request
takes the same time whether it sends a message or not. Without VIVIER_SMTP_URL (development, tests) the outbox is
the delivery: `vivier outbox` prints it, and tests read it. A failed SMTP delivery never loses the message or fails
the action that sent it: the row keeps the error, and the job is retried.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr
from urllib.parse import unquote, urlsplit

from sqlalchemy.orm import Session

from vivier.config import Settings
from vivier.models import OutboxMessage, utcnow

logger = logging.getLogger(__name__)

# Seconds to wait for the SMTP server: a slow server must not hold a web request for long.
SMTP_TIMEOUT_S = 10


# The background job that delivers one outbox message (payload {"outbox_id": ...}).
MAIL_JOB = "mail"


def header_text(text: str, limit: int = 300) -> str:
    """Text fit for a mail header: line breaks and other control characters become spaces (a project title or a
    company name typed on two lines must not break, nor inject, a header)."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())[:limit]


# The only extra headers a message may carry: RFC 2369's unsubscribe link and RFC 8058's one-click unsubscribe.
EXTRA_HEADERS = ("List-Unsubscribe", "List-Unsubscribe-Post")


def send_mail(session: Session, settings: Settings, to: str, subject: str, body: str,
              headers: Mapping[str, str] | None = None) -> OutboxMessage:
    """Record the message (flushed with the caller's transaction) and, when SMTP is configured, a job for the
    worker to deliver it. `headers`: among EXTRA_HEADERS only (ValueError otherwise)."""
    from vivier import jobs

    unknown = set(headers or ()) - set(EXTRA_HEADERS)
    if unknown:
        raise ValueError(f"headers not allowed in a message: {', '.join(sorted(unknown))}")
    message = OutboxMessage(to_address=header_text(to, 254), subject=header_text(subject), body=body,
                            headers={name: header_text(value, 2000) for name, value in headers.items()}
                            if headers else None, created_at=utcnow())
    session.add(message)
    session.flush()
    if settings.smtp_url:
        jobs.enqueue(session, MAIL_JOB, {"outbox_id": message.id})
    return message


def deliver(session: Session, settings: Settings, outbox_id: int) -> None:
    """The worker's delivery of one outbox message over SMTP; an SMTP failure is kept on the row and raised, for
    the job to be retried. A message delivered already, or gone, is left alone."""
    message = session.get(OutboxMessage, outbox_id)
    if message is None or message.sent_at is not None or not settings.smtp_url:
        return
    try:
        _deliver(settings, message.to_address, message.subject, message.body, message.headers)
    except (OSError, smtplib.SMTPException) as error:
        # The address is personal data and the URL may hold a password: neither goes to the log.
        logger.warning("outbox message %s not sent: %s", message.id, type(error).__name__)
        message.error = f"{type(error).__name__}: {error}"[:2000]
        session.commit()  # the error stays on the row whatever the job does next
        raise
    message.sent_at, message.error = utcnow(), None


def _deliver(settings: Settings, to: str, subject: str, body: str,
             headers: Mapping[str, str] | None = None) -> None:
    url = urlsplit(settings.smtp_url or "")
    email = EmailMessage()
    name, address = parseaddr(settings.mail_from)
    email["From"] = formataddr((name, address))
    email["To"] = header_text(to, 254)
    email["Subject"] = header_text(subject)
    email["Message-ID"] = make_msgid(domain=address.partition("@")[2] or None)
    for name, value in (headers or {}).items():
        if name in EXTRA_HEADERS:
            email[name] = header_text(value, 2000)
    email.set_content(body)
    context = ssl.create_default_context()
    if url.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(url.hostname or "localhost", url.port or 465,
                                                 timeout=SMTP_TIMEOUT_S, context=context)
    else:
        client = smtplib.SMTP(url.hostname or "localhost", url.port or 25, timeout=SMTP_TIMEOUT_S)
    with client:
        if url.scheme == "smtp" and client.has_extn("starttls"):
            client.starttls(context=context)
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
        client.send_message(email)
