"""Request bodies at every door: chunked bodies are read, and a body over the limit is a 413
that says the limit in bytes (never the name of a setting).

A chunked body (``Transfer-Encoding: chunked``, no ``Content-Length``) is decoded by the WSGI
server, and servers differ: gunicorn hands the decoded body on, Django's runserver hands an
empty stream. Both are tested through a real server and a raw socket; the test client plays
gunicorn's part.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.test import Client
from rest_framework.test import APIClient

from connlogs import roles
from connlogs.models import ConnectionLog
from tests.factories import UserFactory, WorkspaceFactory, auth_header

URL = "/api/v2/connectionlog/events"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def reporter(db):
    return UserFactory(username="gateway", site_roles=[roles.CONNECTION_REPORTER])


def events_body(workspace_id: str, count: int = 1, user_agent: str = "curl/8") -> bytes:
    event = {
        "action": "connect",
        "time": "2025-07-10T10:00:00Z",
        "type": "workspace_app",
        "workspace_id": workspace_id,
        "agent_name": "main",
        "user_agent": user_agent,
    }
    return json.dumps({"events": [event] * count}).encode()


def chunked(client, path: str, body: bytes):
    """A POST as gunicorn hands it on: the decoded body, no CONTENT_LENGTH."""
    return client.generic(
        "POST",
        path,
        b"",
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(body)},
    )


# --- chunked bodies, as a decoding server hands them on --------------------------------------


def test_a_chunked_batch_is_read_and_recorded(reporter):
    ws = WorkspaceFactory()
    response = chunked(APIClient(**auth_header(reporter)), URL, events_body(str(ws.id), 3))
    assert response.status_code == 200, response.content
    assert response.json() == {"created": 3, "updated": 0, "unchanged": 0}
    assert ConnectionLog.objects.count() == 3


def test_a_chunked_body_over_the_limit_is_a_413_naming_the_limit(reporter, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = events_body(str(uuid.uuid4()), 20)
    assert len(body) > 1000
    response = chunked(APIClient(**auth_header(reporter)), URL, body)
    assert response.status_code == 413
    assert response.json() == {
        "message": "Request body too large.",
        "detail": "The body may be at most 1000 bytes.",
    }
    assert ConnectionLog.objects.count() == 0


def test_a_chunked_form_is_read_too(db):
    # Not only the API: the sign-in form arrives whole (and is refused for its password).
    UserFactory(username="alice")
    body = b"username=alice&password=wrong"
    client = Client(enforce_csrf_checks=False)
    response = client.generic(
        "POST",
        "/login",
        b"",
        CONTENT_TYPE="application/x-www-form-urlencoded",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(body)},
    )
    assert response.status_code == 200
    assert response.context["form"].data["username"] == "alice"


# --- the 413's detail at every door ------------------------------------------------------------


@pytest.mark.parametrize("path", [URL, "/api/v2/organizations", "/api/v2/users"])
def test_a_json_body_over_the_limit_says_the_limit_in_bytes(reporter, owner_api, settings, path):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 600
    client = APIClient(**auth_header(reporter)) if path == URL else owner_api
    response = client.post(path, {"name": "x" * 1000}, format="json")
    assert response.status_code == 413
    assert response.json()["detail"] == "The body may be at most 600 bytes."


def test_a_form_page_over_the_limit_says_the_limit_in_bytes(db, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 600
    response = Client(raise_request_exception=False).post("/login", {"username": "x" * 1000})
    assert response.status_code == 400
    page = response.content.decode()
    assert "The body may be at most 600 bytes." in page and "settings" not in page


# --- through real servers, over a socket ------------------------------------------------------


def send_chunked(port: int, path: str, body: bytes, headers: str = "") -> tuple[int, dict]:
    """POST ``body`` in 100-byte chunks over a raw socket; (status, JSON answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            f"Connection: close\r\n{headers}\r\n"
        )
        try:
            sock.sendall(head.encode())
            for start in range(0, len(body), 100):
                piece = body[start : start + 100]
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered (413) before the whole body was sent
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, json.loads(response.read())


def test_runserver_cannot_pass_a_chunked_body_on_so_it_is_a_411(live_server):
    port = int(live_server.url.rsplit(":", 1)[1])
    status, answer = send_chunked(port, URL, events_body(str(uuid.uuid4())))
    assert status == 411
    assert answer == {
        "message": "The body was sent in chunks (Transfer-Encoding: chunked) and this server "
        "passed none of it on: send it with a Content-Length header."
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    """connlogs under gunicorn on its own SQLite database, with a reporter's token."""
    folder = tmp_path_factory.mktemp("gunicorn")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder}/db.sqlite3",
        "SECRET_KEY": "gunicorn-test",
        "CONNLOGS_MAX_BODY_BYTES": "4000",
        "DJANGO_SUPERUSER_USERNAME": "root",
        "DJANGO_SUPERUSER_EMAIL": "root@example.com",
        "DJANGO_SUPERUSER_PASSWORD": "gunicorn-test-password",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "createsuperuser", "--noinput"], env=env, check=True, cwd=ROOT)
    token = (
        subprocess.run(
            [*manage, "create_token", "root"], env=env, check=True, cwd=ROOT, capture_output=True
        )
        .stdout.decode()
        .strip()
    )
    port = free_port()
    server = subprocess.Popen(
        [Path(sys.executable).parent / "gunicorn", "project.wsgi", "-b", f"127.0.0.1:{port}"],
        env=env,
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        yield port, f"Coder-Session-Token: {token}\r\n"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_gunicorn_passes_a_chunked_batch_on_and_it_is_read(gunicorn):
    port, credentials = gunicorn
    status, answer = send_chunked(port, URL, events_body(str(uuid.uuid4())), credentials)
    # The batch was read: its (unknown) workspace is what is wrong with it.
    assert (status, answer["validations"]) == (
        400,
        [{"field": "events[0].workspace_id", "detail": "Workspace not found."}],
    )


def test_gunicorn_a_chunked_body_over_the_limit_is_a_413(gunicorn):
    port, credentials = gunicorn
    status, answer = send_chunked(port, URL, events_body(str(uuid.uuid4()), 40), credentials)
    assert status == 413
    assert answer["detail"] == "The body may be at most 4000 bytes."
