"""``manage.py set_roles``: set a user's site roles and organization roles.

    set_roles alice                                  # show alice's roles
    set_roles alice --site owner auditor             # replace the site roles
    set_roles alice --site                           # remove every site role
    set_roles alice --org acme --org-role organization-admin
                                                     # join acme if needed, set its roles
    set_roles alice --org acme --org-role            # a plain member of acme

Role names are those of ``connlogs.roles``; an unknown one changes nothing.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from connlogs import owners, roles, values
from connlogs.models import Membership, Organization, User


def _listed(names: list[str]) -> str:
    return "[" + ", ".join(names) + "]"


class Command(BaseCommand):
    help = "Set a user's site roles and/or roles in one organization; prints what changed."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--site",
            nargs="*",
            metavar="ROLE",
            help="Replace the site roles: " + ", ".join(roles.SITE_ROLES) + " (none: remove all).",
        )
        parser.add_argument("--org", help="An organization name or UUID (joined if needed).")
        parser.add_argument(
            "--org-role",
            nargs="*",
            metavar="ROLE",
            dest="org_roles",
            help="Replace the roles in --org: " + ", ".join(roles.ORGANIZATION_ROLES) + ".",
        )

    def handle(self, *args, username, site, org, org_roles, **options) -> None:
        user = User.objects.filter(username__iexact=username).first()
        if user is None:
            raise CommandError(f'No user "{username}".')
        if org_roles is not None and not org:
            raise CommandError("--org-role needs --org.")
        organization = self._organization(org) if org else None
        if site is not None:
            self._check(roles.unknown_site_roles(site), roles.SITE_ROLES, "site")
        if org_roles:
            self._check(
                roles.unknown_organization_roles(org_roles),
                roles.ORGANIZATION_ROLES,
                "organization",
            )

        with transaction.atomic():
            if site is not None:
                try:
                    owners.keep_an_owner({user.pk: {"site_roles": site}})
                except owners.LastOwnerError as error:
                    raise CommandError(str(error)) from None
                self._set_site_roles(user, site)
            if organization is not None:
                self._set_organization_roles(user, organization, org_roles or [])
        if site is None and organization is None:
            self._show(user)

    def _organization(self, ref: str) -> Organization:
        try:
            found = Organization.objects.filter(id=values.parse_uuid(ref)).first()
        except ValueError:
            found = Organization.objects.filter(name=ref.lower()).first()
        if found is None:
            raise CommandError(f'No organization "{ref}".')
        return found

    @staticmethod
    def _check(unknown: list[str], known: dict[str, str], kind: str) -> None:
        if unknown:
            raise CommandError(
                f"Unknown {kind} role(s) {', '.join(unknown)}; use: {', '.join(known)}."
            )

    def _set_site_roles(self, user: User, names: list[str]) -> None:
        before = list(user.site_roles or [])
        user.site_roles = [name for name in roles.SITE_ROLES if name in names]
        user.save(update_fields=["site_roles", "updated_at"])
        self.stdout.write(
            f"{user.username}: site roles {_listed(before)} -> {_listed(user.site_roles)}"
        )

    def _set_organization_roles(
        self, user: User, organization: Organization, names: list[str]
    ) -> None:
        wanted = [name for name in roles.ORGANIZATION_ROLES if name in names]
        membership, joined = Membership.objects.get_or_create(
            user=user, organization=organization, defaults={"roles": wanted}
        )
        if joined:
            self.stdout.write(
                f"{user.username}: joined {organization.name} with roles {_listed(wanted)}"
            )
            return
        before = list(membership.roles or [])
        membership.roles = wanted
        membership.save(update_fields=["roles", "updated_at"])
        self.stdout.write(
            f"{user.username} in {organization.name}: roles {_listed(before)} -> {_listed(wanted)}"
        )

    def _show(self, user: User) -> None:
        self.stdout.write(f"{user.username}: site roles {_listed(user.site_roles or [])}")
        for membership in user.memberships.select_related("organization").order_by(
            "organization__name"
        ):
            self.stdout.write(
                f"{user.username} in {membership.organization.name}: "
                f"roles {_listed(membership.roles or [])}"
            )
