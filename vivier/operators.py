"""Operator accounts of the moderation back-office: creation, passwords (Argon2id), activation, sign-in.

Accounts are created from the command line only (`vivier operator create`): the web has no sign-up page to attack.
Passwords are hashed with argon2-cffi's PasswordHasher (its defaults follow RFC 9106's recommendations); a hash made
with older parameters is replaced at the next successful sign-in. Callers commit.
"""

from __future__ import annotations

import secrets

import functools
import re
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from vivier.models import Operator, utcnow

# Long enough that guessing is hopeless even offline, short enough for a passphrase of a few words.
MIN_PASSWORD_LENGTH = 12
# Hashing cost grows with the input: a bound keeps a pasted novel from tying up a worker.
MAX_PASSWORD_LENGTH = 1024
# The column's size (RFC 5321's limit on an address).
MAX_EMAIL_LENGTH = 254
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

_hasher = PasswordHasher()


class OperatorError(ValueError):
    """An account that cannot be created or changed as asked; the message is for the person at the terminal."""


def normalise_email(email: str) -> str:
    """Addresses compare case-insensitively: "Op@Example.fr" and "op@example.fr" are one account."""
    return (email or "").strip().lower()


def check_email(email: str) -> str:
    email = normalise_email(email)
    if len(email) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.fullmatch(email):
        raise OperatorError(f"not an e-mail address: {email!r}")
    return email


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise OperatorError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise OperatorError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


def find_operator(session: Session, email: str) -> Operator | None:
    return session.scalar(select(Operator).where(Operator.email == normalise_email(email)))


def _existing(session: Session, email: str) -> Operator:
    operator = find_operator(session, email)
    if operator is None:
        raise OperatorError(f"no operator account for {normalise_email(email)}")
    return operator


def create_operator(session: Session, email: str, password: str, now: datetime | None = None) -> Operator:
    email = check_email(email)
    if find_operator(session, email) is not None:
        raise OperatorError(f"an operator account already exists for {email}")
    operator = Operator(email=email, password_hash=hash_password(password), active=True, created_at=now or utcnow())
    session.add(operator)
    session.flush()
    return operator


def set_password(session: Session, email: str, password: str) -> Operator:
    operator = _existing(session, email)
    operator.password_hash = hash_password(password)
    end_sessions(operator)  # a changed password closes the sessions opened with the old one
    session.flush()
    return operator


def set_active(session: Session, email: str, active: bool) -> Operator:
    """Disable (or enable again) an account: a disabled operator can neither sign in nor use an open session
    (search_app's user loader reads `active` at every request)."""
    operator = _existing(session, email)
    operator.active = active
    end_sessions(operator)
    session.flush()
    return operator


def list_operators(session: Session) -> list[Operator]:
    return list(session.scalars(select(Operator).order_by(Operator.email)))


@functools.cache
def _decoy_hash() -> str:
    """A hash to verify against when the address is unknown or disabled, so that the answer takes as long as for a
    real account and its timing does not tell which addresses have one."""
    return _hasher.hash("not the password of anyone")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(session: Session, email: str, password: str, now: datetime | None = None) -> Operator | None:
    """The active operator with this address and password (its last sign-in recorded, its hash upgraded if the
    parameters changed), or None for any failure, all alike and in about the same time."""
    password = (password or "")[:MAX_PASSWORD_LENGTH + 1]
    operator = find_operator(session, email) if len(normalise_email(email)) <= MAX_EMAIL_LENGTH else None
    if operator is None or not operator.active:
        _verify(_decoy_hash(), password)
        return None
    if not _verify(operator.password_hash, password):
        return None
    if _hasher.check_needs_rehash(operator.password_hash):
        operator.password_hash = _hasher.hash(password)
    operator.last_login_at = now or utcnow()
    if not operator.session_token:
        end_sessions(operator)  # the first sign-in draws the token sessions carry
    session.flush()
    return operator


def end_sessions(operator: Operator) -> None:
    """Draw a new session token: every session cookie of this operator made before no longer opens anything
    (search_app.extensions.OperatorUser)."""
    operator.session_token = secrets.token_urlsafe(32)
