"""Outgoing e-mail: every message is recorded in the outbox table, then sent through SMTP when it is configured.

Without VIVIER_SMTP_URL (development, tests) the outbox is the delivery: `vivier outbox` prints it, and tests read
it. A failed SMTP delivery never loses the message or fails the action that sent it: the row keeps the error.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr
from urllib.parse import unquote, urlsplit

from sqlalchemy.orm import Session

from vivier.config import Settings
from vivier.models import OutboxMessage, utcnow

logger = logging.getLogger(__name__)

# Seconds to wait for the SMTP server: a slow server must not hold a web request for long.
SMTP_TIMEOUT_S = 10


def send_mail(session: Session, settings: Settings, to: str, subject: str, body: str) -> OutboxMessage:
    """Record the message (flushed with the caller's transaction) and send it if SMTP is configured."""
    message = OutboxMessage(to_address=to, subject=subject[:300], body=body, created_at=utcnow())
    session.add(message)
    session.flush()
    if settings.smtp_url:
        try:
            _deliver(settings, to, subject, body)
            message.sent_at = utcnow()
        except (OSError, smtplib.SMTPException) as error:
            # The address is personal data and the URL may hold a password: neither goes to the log.
            logger.warning("outbox message %s not sent: %s", message.id, type(error).__name__)
            message.error = f"{type(error).__name__}: {error}"[:2000]
    return message


def _deliver(settings: Settings, to: str, subject: str, body: str) -> None:
    url = urlsplit(settings.smtp_url or "")
    email = EmailMessage()
    name, address = parseaddr(settings.mail_from)
    email["From"] = formataddr((name, address))
    email["To"] = to
    email["Subject"] = subject
    email["Message-ID"] = make_msgid(domain=address.partition("@")[2] or None)
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
