"""The list page says why a valid search found nobody: a name that is no user's."""

from connlogs import roles
from tests.factories import ConnectionLogFactory, UserFactory
from tests.web.conftest import signed_in


def test_an_unknown_owner_is_said_under_the_search_box(db):
    reader = UserFactory(site_roles=[roles.AUDITOR])
    ConnectionLogFactory(workspace__owner=UserFactory(username="frank"))
    client = signed_in(reader)
    html = client.get("/connectionlog", {"q": "workspace_owner:frnak"}).content.decode()
    assert 'id="q-notices"' in html and "No user named &quot;frnak&quot;" in html
    html = client.get("/connectionlog", {"q": "workspace_owner:frank"}).content.decode()
    assert 'id="q-notices"' not in html


def test_a_notice_is_text(db):
    reader = UserFactory(site_roles=[roles.AUDITOR])
    html = signed_in(reader).get("/connectionlog", {"q": 'username:"<b>x"'}).content.decode()
    assert "&lt;b&gt;x" in html and "<b>x" not in html
