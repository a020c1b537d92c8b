"""The Airflow UI's roles for the hub under the FAB auth manager, from ``config/airflow_roles.json``.

    python -m plugins.hub_roles [--roles FILE] [--users FILE] [--admin-from-env]

Creates the hub's custom resources (``Hub Quarantine``: ``can_read``, ``can_edit``), then sets each
declared role to exactly its permissions: a built-in FAB role (``like``) plus ``add`` minus
``remove``, so the file is the one place they are defined (docker-compose's ``airflow-init`` runs
this on every start; a change made in the UI to these roles is reset then). Admin gets the new
permissions too. ``--users`` takes a JSON list of ``{"username", "password", "role", "email"}`` and
creates the users that do not exist (the UI test signs in with them); ``--admin-from-env`` creates
the first Admin from ``$AIRFLOW_ADMIN_USERNAME`` / ``$AIRFLOW_ADMIN_PASSWORD`` when missing (the
password never appears on a command line). Everyone else is added in the UI under Security → Users
(or ``airflow users create``) with one of the roles.

Airflow also loads this file as a plugin module; it defines no plugin and imports FAB only when run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROLES_FILE = Path(__file__).resolve().parent.parent / "config" / "airflow_roles.json"


def declared_roles(path: Path = ROLES_FILE) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def role_permissions(
    spec: dict[str, Any], builtin: dict[str, list[tuple[str, str]]]
) -> dict[str, set[tuple[str, str]]]:
    """Each declared role's permissions as (action, resource) pairs."""
    out = {}
    for name, role in spec["roles"].items():
        if role["like"] not in builtin:
            raise ValueError(
                f"role {name}: 'like' must name a built-in role ({', '.join(builtin)}), not {role['like']!r}"
            )
        perms = set(builtin[role["like"]]) | {tuple(p) for p in role.get("add", [])}
        out[name] = perms - {tuple(p) for p in role.get("remove", [])}
    return out


def apply(spec: dict[str, Any], users: Sequence[dict[str, str]] = ()) -> dict[str, int]:
    """Create the resources, set the roles, add missing users; return each role's permission count."""
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with get_application_builder() as appbuilder:
        sm = appbuilder.sm
        for resource, actions in spec["resources"].items():
            sm.create_resource(resource)
            for action in actions:
                sm.create_permission(action, resource)
        builtin = {config["role"]: config["perms"] for config in sm.ROLE_CONFIGS}
        counts = {}
        for name, perms in role_permissions(spec, builtin).items():
            role = sm.find_role(name) or sm.add_role(name)
            role.permissions = [sm.get_permission(a, r) or sm.create_permission(a, r) for a, r in sorted(perms)]
            counts[name] = len(role.permissions)
        sm.session.commit()
        sm.update_admin_permission()  # Admin holds every permission, the hub's resources' included
        for user in users:
            if sm.find_user(username=user["username"]) is None:
                role = sm.find_role(user["role"])
                if role is None:
                    raise ValueError(f"user {user['username']}: no role {user['role']!r}")
                name = user["username"]
                email = user.get("email") or f"{name}@example.com"
                if not sm.add_user(name, name, user["role"], email, role, user["password"]):
                    raise RuntimeError(f"user {name} could not be created")
        return counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m plugins.hub_roles", description=__doc__.split("\n\n")[0])
    parser.add_argument("--roles", type=Path, default=ROLES_FILE)
    parser.add_argument("--users", type=Path, help="JSON list of users to create when missing")
    parser.add_argument(
        "--admin-from-env", action="store_true", help="create $AIRFLOW_ADMIN_USERNAME (Admin) when missing"
    )
    args = parser.parse_args(argv)
    users = json.loads(args.users.read_text(encoding="utf-8")) if args.users else []
    if args.admin_from_env:
        name, password = os.environ.get("AIRFLOW_ADMIN_USERNAME", "admin"), os.environ.get("AIRFLOW_ADMIN_PASSWORD")
        if not password:
            print("--admin-from-env: set AIRFLOW_ADMIN_PASSWORD", file=sys.stderr)
            return 2
        users.append({"username": name, "password": password, "role": "Admin"})
    counts = apply(declared_roles(args.roles), users)
    print("roles: " + ", ".join(f"{name} ({n} permissions)" for name, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
