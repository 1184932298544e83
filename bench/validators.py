#!/usr/bin/env python
"""pydantic v2 against msgspec as the event validator: 1000-event batches, good and hostile.

Both libraries get the same declarative event (types, required fields per type and
action, limits, unknown fields refused, RFC 3339 times, UUIDs and addresses read by
``connlogs.values``) and the same batches, as Python objects (what the JSON parser hands
``record_events``):

* realistic: the mix ``bench/measure.py`` sends (44% agent connects, 44% disconnects, 12%
  web requests);
* hostile: every event broken one to three ways (wrong types, unknown and inapplicable keys, bad
  UUIDs and times, 100,000-character strings, NULs, lone surrogates, booleans and huge
  integers as codes, nested objects).

pydantic is connlogs' own ``validate_events`` (schema, and every error turned into the
contract's ``events[i].field`` sentences). msgspec stops at the first error of what it
converts: it is given the batch, then each event alone, so it reports one error per bad
event, in its own words, where the contract wants every bad field in ours (a per-field
reader written by hand would have to find the rest). Times are CPU time of this process,
so other load on the machine moves them little. Usage (no database needed)::

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/validators.py [--runs 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated, Literal

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("SECRET_KEY", "bench-validators")

import django  # noqa: E402

django.setup()

import msgspec  # noqa: E402

from connlogs import values  # noqa: E402
from connlogs.ingest import EventValidationError, validate_events  # noqa: E402
from connlogs.ingest import schema as pydantic_schema  # noqa: E402

# --- the same event for msgspec -------------------------------------------------------------

_NO_NUL = r"^[^\x00]*$"
# As in the schema: reporters send the same ids and addresses over and over.
_uuid = functools.lru_cache(maxsize=8192)(values.parse_uuid)
_LATEST = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
_Text = Annotated[str, msgspec.Meta(pattern=_NO_NUL)]  # any length: cut, not refused
_Required = Annotated[str, msgspec.Meta(min_length=1, max_length=4096, pattern=_NO_NUL)]


def _storable(*texts: str | None) -> None:
    # msgspec passes lone surrogates through; PostgreSQL could not store them.
    for text in texts:
        if text:
            text.encode("utf-8")


class _Base(msgspec.Struct, forbid_unknown_fields=True, tag_field="type"):
    action: Literal["connect", "disconnect"]
    time: _Required
    workspace_id: _Required
    agent_name: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=_NO_NUL)]
    ip: str | None = None  # no address is stored as unknown, a NUL included

    def __post_init__(self):
        _storable(self.agent_name)
        self.time = values.parse_rfc3339(self.time)
        if self.time > _LATEST:
            raise ValueError("in the future")
        self.workspace_id = _uuid(self.workspace_id)
        try:
            self.ip = pydantic_schema.normalize_ip(self.ip) if self.ip else None
        except ValueError:
            self.ip = None  # stored as unknown, with a warning


class _Agent(_Base):
    connection_id: _Required = ""
    reason: _Text | None = None
    exit_code: Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)] | None = None

    def __post_init__(self):
        super().__post_init__()
        _storable(self.reason)
        self.connection_id = _uuid(self.connection_id)
        if self.action == "connect" and (self.reason is not None or self.exit_code is not None):
            raise ValueError("reason and exit_code are for disconnects")
        self.reason = (self.reason or "")[:4096]


class _Web(_Base):
    user_id: _Text | None = None
    user_agent: _Text | None = None
    slug_or_port: Annotated[str, msgspec.Meta(max_length=256, pattern=_NO_NUL)] | None = None
    status_code: Annotated[int, msgspec.Meta(ge=100, le=599)] | None = None

    def __post_init__(self):
        super().__post_init__()
        _storable(self.user_agent, self.slug_or_port)
        self.user_agent = (self.user_agent or "")[:4096]
        self.slug_or_port = (self.slug_or_port or "")[:256]
        if self.action != "connect":
            raise ValueError("web events are connects")
        self.user_id = _uuid(self.user_id) if self.user_id else None


# msgspec tags a union by one field, one value per class: one class per type.
_SHAPES = tuple(
    msgspec.defstruct(kind, [], bases=(base,), tag=kind)
    for base, kinds in (
        (_Agent, pydantic_schema.AGENT_TYPE_VALUES),
        (_Web, pydantic_schema.WEB_TYPE_VALUES),
    )
    for kind in kinds
)
_MsgspecEvent = _SHAPES[0]
for _shape in _SHAPES[1:]:
    _MsgspecEvent = _MsgspecEvent | _shape


def msgspec_validate(batch: list) -> tuple[int, int]:
    """(events accepted, errors found)."""
    try:
        return len(msgspec.convert(batch, list[_MsgspecEvent])), 0
    except msgspec.ValidationError:
        errors = 0
        for raw in batch:
            try:
                msgspec.convert(raw, _MsgspecEvent)
            except (msgspec.ValidationError, UnicodeEncodeError):
                errors += 1
        return 0, errors


def pydantic_validate(batch: list) -> tuple[int, int]:
    try:
        return len(validate_events(batch).events), 0
    except EventValidationError as error:
        return 0, len(error.validations)


# --- batches ------------------------------------------------------------------------------


def realistic(rng: random.Random) -> list[dict]:
    workspaces = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(200)]
    users = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(50)]
    clock = dt.datetime(2025, 7, 10, tzinfo=dt.UTC)
    batch = []
    for _ in range(1000):
        clock += dt.timedelta(microseconds=rng.randrange(1, 2000))
        common = {
            "time": clock.isoformat().replace("+00:00", "Z"),
            "workspace_id": rng.choice(workspaces),
            "agent_name": "main",
        }
        pick = rng.random()
        if pick < 0.88:
            event = {
                "action": "connect" if pick < 0.44 else "disconnect",
                "type": rng.choice(pydantic_schema.AGENT_TYPE_VALUES),
                "connection_id": str(uuid.UUID(int=rng.getrandbits(128))),
                **common,
            }
            if pick < 0.44:
                event["ip"] = f"fd7a:115c:a1e0::{rng.randrange(1, 65535):x}"
            else:
                event.update(reason="session ended", exit_code=rng.choice([0, 0, 0, 1]))
        else:
            event = {
                "action": "connect",
                "type": rng.choice(pydantic_schema.WEB_TYPE_VALUES),
                "ip": f"34.{rng.randrange(256)}.0.1",
                "user_id": rng.choice(users),
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
                "slug_or_port": "code-server",
                "status_code": 200,
                **common,
            }
        batch.append(event)
    return batch


HOSTILE_CHANGES = [
    ("action", 1),
    ("action", "open"),
    ("time", "yesterday"),
    ("time", 1720605600),
    ("time", "2025-07-10T10:00:00"),
    ("type", "rdp"),
    ("type", ["ssh"]),
    ("workspace_id", "not-a-uuid"),
    ("workspace_id", "7a6fafdc-e3d0-43cb-a1b7-1f19802d790g"),
    ("connection_id", {"id": 1}),
    ("agent_name", "x" * 100_000),
    ("agent_name", "ma\x00in"),
    ("agent_name", "\ud800"),
    ("ip", "10.0.0.256"),
    ("ip", "10.1.2.3\x00"),
    ("ip", "x" * 100_000),
    ("time", "2999-01-01T00:00:00Z"),
    ("time", "٢٠٣١-01-01T00:00:00Z"),
    ("reason", "bye"),
    ("exit_code", True),
    ("exit_code", 10**100),
    ("status_code", "200"),
    ("user_agent", "\udfff" * 1000),
    ("colour", "red"),
    ("__proto__", {}),
]


def hostile(rng: random.Random) -> list:
    batch = []
    for event in realistic(rng):
        for name, value in rng.sample(HOSTILE_CHANGES, rng.choice([1, 2, 3])):
            event[name] = value
        batch.append(event)
    batch[::97] = ["not an object"] * len(batch[::97])
    return batch


def timed(validate, batch: list, runs: int) -> tuple[float, float, tuple[int, int]]:
    samples, outcome = [], None
    for _ in range(runs + 3):
        start = time.process_time()
        outcome = validate(batch)
        samples.append((time.process_time() - start) * 1000)
    samples = samples[3:]
    return statistics.median(samples), min(samples), outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    batches = {"realistic": realistic(random.Random(1)), "hostile": hostile(random.Random(2))}
    # CPU time of this process: the cost of validating, whatever else the machine runs.
    print(f"1000-event batches, {args.runs} runs after 3 warm-ups; CPU ms per batch")
    print("| library | batch | median ms | best ms | accepted | errors reported |")
    print("|---|---|---:|---:|---:|---:|")
    medians = {}
    for name, validate in (("pydantic", pydantic_validate), ("msgspec", msgspec_validate)):
        for kind, batch in batches.items():
            median, best, (accepted, errors) = timed(validate, batch, args.runs)
            medians[name, kind] = median
            print(f"| {name} | {kind} | {median:.2f} | {best:.2f} | {accepted} | {errors} |")
    for kind in batches:
        ratio = medians["msgspec", kind] / medians["pydantic", kind]
        print(f"{kind}: msgspec takes {ratio:.2f}x pydantic's time")


if __name__ == "__main__":
    main()
