import datetime as dt

from django.utils import timezone

from connlogs import tokens
from connlogs.models import ApiToken
from tests.factories import UserFactory


def test_tokens_are_stored_hashed(db):
    user = UserFactory()
    key = tokens.issue(user, name="ci")
    stored = ApiToken.objects.get()
    token_id, secret = key.split("-", 1)
    assert stored.id == token_id
    assert secret not in stored.hashed_secret and key not in stored.hashed_secret
    assert tokens.find(key).user == user


def test_wrong_secret_expired_or_suspended_is_refused(db):
    user = UserFactory()
    key = tokens.issue(user)
    assert tokens.find(key[:-1] + ("a" if key[-1] != "a" else "b")) is None
    assert tokens.find("garbage") is None and tokens.find("") is None

    expiring = tokens.issue(user, lifetime=dt.timedelta(seconds=60))
    ApiToken.objects.filter(id=expiring.split("-")[0]).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert tokens.find(expiring) is None

    user.status = "suspended"
    user.save()
    assert tokens.find(key) is None


def test_revoke(db):
    key = tokens.issue(UserFactory())
    assert tokens.revoke(key) and tokens.find(key) is None
