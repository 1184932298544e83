"""The user directory under data protection mode: it names no one the log shows as a
pseudonym to the reader (``GET /api/v2/users/{user}``)."""

from __future__ import annotations

import uuid

import pytest

from connlogs import roles
from tests.conftest import as_user
from tests.factories import member


def read(user, ref: str):
    return as_user(user).get(f"/api/v2/users/{ref}")


def _hidden_like_a_made_up_name(user, ref: str, made_up: str) -> bool:
    hidden, unknown = read(user, ref), read(user, made_up)
    return hidden.status_code == unknown.status_code == 404 and hidden.content == unknown.content


@pytest.mark.parametrize("reader", ["auditor", "both_auditor"])
def test_a_reader_shown_pseudonyms_cannot_look_people_up(people, protected, reader):
    user = getattr(people, reader)
    assert _hidden_like_a_made_up_name(user, "alice-owner", "nobody-at-all")
    assert _hidden_like_a_made_up_name(user, str(people.alice.id), str(uuid.uuid4()))
    assert read(user, "me").json()["username"] == user.username
    assert read(user, user.username).status_code == 200


@pytest.mark.parametrize("reader", ["viewer", "owner"])
def test_readers_who_see_identities_still_do(people, protected, reader):
    found = read(getattr(people, reader), "alice-owner")
    assert found.status_code == 200 and found.json()["email"] == "alice@corp.example"


def test_an_organization_admin_reads_the_accounts_they_manage(people, protected):
    admin = member(people.acme, roles.ORGANIZATION_ADMIN, username="acme-admin")
    assert read(admin, "alice-owner").status_code == 200
    assert read(admin, "gus-globex").status_code == 404  # not theirs to manage


def test_in_per_organization_mode_people_of_unprotected_organizations_are_readable(
    people, settings
):
    settings.CONNLOGS_DATA_PROTECTION = "organizations"
    people.acme.data_protection = True
    people.acme.save()
    assert read(people.both_auditor, "gus-globex").status_code == 200
    assert _hidden_like_a_made_up_name(people.both_auditor, "alice-owner", "nobody-at-all")
    # Not reading globex, the organization auditor of acme does not see gus at all.
    assert read(people.auditor, "gus-globex").status_code == 404


def test_with_the_mode_off_the_directory_is_as_before(people):
    assert read(people.auditor, "alice-owner").status_code == 200
