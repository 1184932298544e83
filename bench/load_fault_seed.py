#!/usr/bin/env python3
"""The load/fault run's people and places (run by bench/load_fault.py, prints JSON).

An organization ``loadtest`` whose workspaces receive the run's events (so the integrity
check reads only those), a connection reporter, a site auditor, an organization auditor and
a web user, each with an API token; the auditor also has a password for the sign-in page.
Demo data (``manage.py demo``) gives the readers other organizations' rows to search.
"""

from __future__ import annotations

import json
import sys

from common import setup_django

setup_django()

from connlogs import roles, tokens  # noqa: E402
from connlogs.models import Membership, Organization, User, Workspace  # noqa: E402

PASSWORD = "load-fault-password"


def user(username: str, *site_roles: str, password: str | None = None) -> User:
    found = User.objects.filter(username=username).first()
    if found is None:
        found = User.objects.create_user(
            username, f"{username}@loadtest.example", password, site_roles=list(site_roles)
        )
    return found


def main(workspaces: int) -> dict:
    organization, _ = Organization.objects.get_or_create(
        name="loadtest", defaults={"display_name": "Load test"}
    )
    owner = user("lt-owner")
    Membership.objects.get_or_create(user=owner, organization=organization)
    auditor = user("lt-auditor", roles.AUDITOR, password=PASSWORD)
    org_auditor = user("lt-org-auditor")
    Membership.objects.update_or_create(
        user=org_auditor,
        organization=organization,
        defaults={"roles": [roles.ORGANIZATION_AUDITOR]},
    )
    reporter = user("lt-reporter", roles.CONNECTION_REPORTER)
    web_user = user("lt-web-user")
    throttled = user("lt-throttled", password=PASSWORD)  # locked out by the throttle check
    spaces = [
        Workspace.objects.get_or_create(organization=organization, owner=owner, name=f"ws{i}")[0]
        for i in range(workspaces)
    ]
    return {
        "organization_id": str(organization.id),
        "workspace_ids": [str(space.id) for space in spaces],
        "web_user_id": str(web_user.id),
        "tokens": {
            "reporter": tokens.issue(reporter, name="load-fault"),
            "auditor": tokens.issue(auditor, name="load-fault"),
            "org_auditor": tokens.issue(org_auditor, name="load-fault"),
        },
        "page_user": {"username": auditor.username, "email": auditor.email, "password": PASSWORD},
        "throttle_user": {"email": throttled.email, "password": PASSWORD},
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)))
