"""`vivier operator ...` and vivier.operators on a real SQLite database with real Argon2 hashing."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner

from tests.conftest import make_settings
from vivier_cli.main import main
from vivier.db import Database
from vivier.models import Operator
from vivier.operators import MIN_PASSWORD_LENGTH, authenticate, create_operator, find_operator

EMAIL = "moderatrice@vivier.test"
PASSWORD = "une phrase de passe solide"


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path


@pytest.fixture
def cli(data_dir):
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(main, ["operator", *args], input=input,
                             env={"VIVIER_DATA_DIR": str(data_dir), "DATABASE_URL": None})

    return invoke


@pytest.fixture
def database(data_dir):
    db = Database(make_settings(data_dir))
    db.migrate()
    yield db
    db.dispose()


def operator_row(database, email=EMAIL) -> Operator | None:
    with database.session() as s:
        return find_operator(s, email)


def can_sign_in(database, password=PASSWORD, email=EMAIL) -> bool:
    with database.session() as s:
        return authenticate(s, email, password) is not None


def test_create_asks_twice_and_stores_an_argon2_hash_never_the_password(cli, database):
    result = cli("create", " Moderatrice@Vivier.test ", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "operator moderatrice@vivier.test created" in result.output
    assert PASSWORD not in result.output  # hidden input: not echoed
    row = operator_row(database)
    assert row.active and row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash
    assert can_sign_in(database)
    assert can_sign_in(database, email="MODERATRICE@vivier.test")  # addresses compare case-insensitively
    assert not can_sign_in(database, password=PASSWORD + "!")
    assert row.last_login_at is None and operator_row(database).last_login_at is not None


def test_a_mistyped_confirmation_creates_nothing(cli, database):
    result = cli("create", EMAIL, input=f"{PASSWORD}\n{PASSWORD}x\n")
    assert result.exit_code != 0
    assert "do not match" in result.output
    assert operator_row(database) is None


def test_a_short_password_is_refused(cli, database):
    short = "x" * (MIN_PASSWORD_LENGTH - 1)
    result = cli("create", EMAIL, "--password-stdin", input=short + "\n")
    assert result.exit_code == 1
    assert f"at least {MIN_PASSWORD_LENGTH} characters" in result.output
    assert operator_row(database) is None


def test_an_invalid_address_or_a_second_account_is_refused(cli, database):
    assert cli("create", "pas-une-adresse", "--password-stdin", input=PASSWORD + "\n").exit_code == 1
    assert cli("create", EMAIL, "--password-stdin", input=PASSWORD + "\n").exit_code == 0
    again = cli("create", EMAIL.upper(), "--password-stdin", input="another password here\n")
    assert again.exit_code == 1 and "already exists" in again.output
    assert can_sign_in(database)  # the first account's password is untouched


def test_list_disable_enable(cli, database):
    cli("create", EMAIL, "--password-stdin", input=PASSWORD + "\n")
    cli("create", "second@vivier.test", "--password-stdin", input=PASSWORD + "\n")
    listing = cli("list")
    assert listing.exit_code == 0
    assert listing.output.splitlines() == [f"{EMAIL}  active  last sign-in: never",
                                           "second@vivier.test  active  last sign-in: never"]

    assert cli("disable", EMAIL).exit_code == 0
    assert not can_sign_in(database)  # the right password no longer opens a disabled account
    assert f"{EMAIL}  disabled" in cli("list").output
    assert cli("enable", EMAIL).exit_code == 0
    assert can_sign_in(database)


def test_password_change_and_unknown_accounts(cli, database):
    cli("create", EMAIL, "--password-stdin", input=PASSWORD + "\n")
    new = "un tout autre mot de passe"
    result = cli("password", EMAIL, input=f"{new}\n{new}\n")
    assert result.exit_code == 0, result.output
    assert not can_sign_in(database) and can_sign_in(database, password=new)
    assert cli("password", EMAIL, "--password-stdin", input="court\n").exit_code == 1
    assert can_sign_in(database, password=new)
    missing = cli("disable", "nobody@vivier.test")
    assert missing.exit_code == 1 and "no operator account" in missing.output


def test_unknown_accounts_and_empty_passwords_fail_like_a_wrong_password(database):
    with database.session() as s:
        create_operator(s, EMAIL, PASSWORD)
    assert not can_sign_in(database, email="nobody@vivier.test")
    assert not can_sign_in(database, email="x" * 300 + "@vivier.test")
    assert not can_sign_in(database, password="")


def test_a_hash_made_with_older_parameters_is_upgraded_at_sign_in(database):
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    with database.session() as s:
        s.add(Operator(email=EMAIL, password_hash=weak, active=True))
    assert can_sign_in(database)
    upgraded = operator_row(database).password_hash
    assert upgraded != weak and not PasswordHasher().check_needs_rehash(upgraded)
    assert can_sign_in(database)


def test_outbox_command_lists_and_shows_the_messages(tmp_path):
    """Without SMTP the outbox is where mail goes: the command lists it newest first and prints one whole."""
    from click.testing import CliRunner

    from tests.conftest import make_settings
    from vivier_cli.main import main
    from vivier.db import Database
    from vivier.mail import send_mail

    settings = make_settings(tmp_path)
    database = Database(settings)
    database.migrate()
    with database.session() as session:
        send_mail(session, settings, "a@x.fr", "Premier", "Corps 1")
        second = send_mail(session, settings, "b@x.fr", "Second", "Lien : https://vivier.test/acces/abc")
        session.commit()
        second_id = second.id
    database.dispose()
    env = {"VIVIER_DATA_DIR": str(tmp_path), "DATABASE_URL": ""}
    listed = CliRunner().invoke(main, ["outbox"], env=env)
    assert listed.exit_code == 0 and listed.output.index("Second") < listed.output.index("Premier")
    assert "kept" in listed.output
    only_a = CliRunner().invoke(main, ["outbox", "--to", "a@x.fr"], env=env).output
    assert "Premier" in only_a and "Second" not in only_a
    shown = CliRunner().invoke(main, ["outbox", "--show", str(second_id)], env=env).output
    assert "To: b@x.fr" in shown and "https://vivier.test/acces/abc" in shown
    assert CliRunner().invoke(main, ["outbox", "--show", "999"], env=env).exit_code == 1
