import gc
import os

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.factories import OrganizationFactory, UserFactory, auth_header


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2's deliberate slowness is for production; tests create hundreds of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session", autouse=True)
def access_log_writer_closed(django_db_setup):
    # Reads in transactional tests on PostgreSQL write their access-log entries on a
    # connection of their own (``accesslog.writer``): closed before the test database is
    # dropped.
    yield
    from connlogs.accesslog import writer

    writer.close()


@pytest.fixture(autouse=True)
def dropped_exports_give_back_their_slots():
    # A real server closes every response; the test client never closes a streaming one
    # that a test did not read to the end. Collecting the dropped responses gives their
    # export slots back, so one test's unread exports cannot refuse the next test's.
    yield
    from connlogs.export import slots

    if slots.streaming():
        gc.collect()


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def org(db):
    return OrganizationFactory(name="acme", display_name="Acme")


@pytest.fixture
def other_org(db):
    return OrganizationFactory(name="globex", display_name="Globex")


@pytest.fixture
def owner(db):
    return UserFactory(username="root", site_roles=["owner"])


@pytest.fixture
def owner_api(owner):
    client = APIClient()
    client.credentials(**auth_header(owner))
    return client


def as_user(user) -> APIClient:
    client = APIClient()
    client.credentials(**auth_header(user))
    return client


@pytest.fixture
def client_for():
    """``client_for(user)``: an API client authenticated as ``user`` with a token."""
    return as_user


requires_postgres = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="needs PostgreSQL (DATABASE_URL=postgres://...); CI runs the suite on both",
)


@pytest.fixture
def is_postgres(db):
    return connection.vendor == "postgresql"
