"""connlogs settings: one module, configured from the environment (see README)."""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from connlogs.values import parse_length

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in (os.environ.get(name) or default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG")

SECRET_KEY = os.environ.get("SECRET_KEY") or ""
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (set DEBUG=true for local development)."
        )
    SECRET_KEY = "django-insecure-connlogs-development-only"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "django_tasks",
    "django_tasks_db",
    "connlogs",
]

MIDDLEWARE = [
    # Request counts and latencies by view for /metrics (first and last, to time it all).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "connlogs.middleware.ApiNoStoreMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "connlogs.middleware.ContentSecurityPolicyMiddleware",
    "connlogs.middleware.DatabaseUnavailableMiddleware",
    # Holds each answer until the access-log entries of its read are committed.
    "connlogs.accesslog.writer.AccessLogWriteMiddleware",
    "connlogs.middleware.ChunkedBodyMiddleware",
    "connlogs.middleware.AdminNulParameterMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "connlogs.consistency.ReadYourWritesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE") or 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the demo server read while the loader writes; the busy timeout turns a
    # momentary write lock into a short wait instead of "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "timeout": 20,
        # A write transaction takes the lock when it begins, so concurrent event batches
        # queue on the busy timeout instead of failing with "database is locked".
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

# Background work (stream delivery): django-tasks with its database backend, so there is no
# broker to run; `manage.py stream_worker` runs the tasks (docs/deployment.md).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# Seconds a worker's claim on a stream lasts without renewal: how long a crashed worker's
# streams wait before another worker takes them over.
CONNLOGS_STREAM_LEASE_SECONDS = float(os.environ.get("CONNLOGS_STREAM_LEASE_SECONDS") or 30)
# Keys that encrypt streams' secrets at rest (Fernet keys, comma-separated, newest first: the
# first encrypts, every one decrypts; `manage.py reencrypt_stream_secrets` moves every secret to
# the first). Empty: a key derived from SECRET_KEY, for development only (docs/deployment.md).
CONNLOGS_SECRETS_KEY = [
    key.strip() for key in (os.environ.get("CONNLOGS_SECRETS_KEY") or "").split(",") if key.strip()
]
# Seconds between a worker's heartbeats (each also queues the streams that are due).
CONNLOGS_WORKER_HEARTBEAT_SECONDS = float(os.environ.get("CONNLOGS_WORKER_HEARTBEAT_SECONDS") or 1)

# Alert notifications: the address users open connlogs at (links in webhooks, Slack and
# email; empty: links are paths), and Django's email settings for the email channel.
CONNLOGS_BASE_URL = os.environ.get("CONNLOGS_BASE_URL", "")
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT") or 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "connlogs@localhost")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "connlogs.User"
# Every sign-in door checks passwords here, behind one shared lockout (connlogs/signin.py).
AUTHENTICATION_BACKENDS = ["connlogs.signin.ThrottledModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/connectionlog"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "connlogs" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Without `collectstatic`, WhiteNoise serves the app folders. Production runs collectstatic
# and sets CONNLOGS_COLLECTED_STATIC=true, so the collected, pre-compressed copies are served
# (the app folders' files would otherwise shadow them, uncompressed).
WHITENOISE_USE_FINDERS = not env_bool("CONNLOGS_COLLECTED_STATIC")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "connlogs.api.auth.SessionTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "connlogs.api.negotiation.AnyAcceptNegotiation",
    "DEFAULT_PARSER_CLASSES": ["connlogs.api.parsers.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "connlogs.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "connlogs API",
    "DESCRIPTION": (
        "Connection logs, compatible with Coder's /api/v2/connectionlog.\n\n"
        "Authenticate with a token from `POST /api/v2/users/login` (or `manage.py "
        "create_token`): **Authorize** it as `CoderSessionToken` (the `Coder-Session-Token` "
        "header) or `BearerToken`, and the curl command shown for each request carries it."
    ),
    "VERSION": "2",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Two choice sets named "kind": a stream's destination and an alert rule's trigger.
    "ENUM_NAME_OVERRIDES": {
        "AlertRuleKindEnum": "connlogs.alerts.models.RuleKind",
        "StreamKindEnum": "connlogs.api.alert_serializers.STREAM_KIND_VALUES",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "connlogs.api.schema.empty_query_values_mean_absent",
    ],
}

# Request bodies: the events endpoint takes up to this many bytes (default 5 MB).
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("CONNLOGS_MAX_BODY_BYTES") or 5 * 1024 * 1024)

CONNLOGS_MAX_LIMIT = int(os.environ.get("CONNLOGS_MAX_LIMIT") or 1000)
CONNLOGS_COUNT_CAP = int(os.environ.get("CONNLOGS_COUNT_CAP") or 2000)
CONNLOGS_MAX_EVENTS = 1000
# Exports one server process streams at once; one more is answered 429 with Retry-After.
# Keep it below gunicorn's --threads so every worker keeps threads for ingest and pages
# (connlogs/export/slots.py, docs/deployment.md section 2).
CONNLOGS_MAX_EXPORTS_PER_PROCESS = int(os.environ.get("CONNLOGS_MAX_EXPORTS_PER_PROCESS") or 4)
if CONNLOGS_MAX_EXPORTS_PER_PROCESS < 1:
    raise ImproperlyConfigured("CONNLOGS_MAX_EXPORTS_PER_PROCESS must be 1 or more.")
# An event time may be at most this far (seconds) ahead of the server's clock; old times are
# always accepted (a reporter may send what it buffered while it was offline).
CONNLOGS_MAX_CLOCK_SKEW = int(os.environ.get("CONNLOGS_MAX_CLOCK_SKEW") or 24 * 3600)
# status:stale: ongoing sessions that connected longer ago than this (a length: 7d, 36h):
# their disconnect was never received.
try:
    CONNLOGS_STALE_AFTER = parse_length(os.environ.get("CONNLOGS_STALE_AFTER") or "7d")
except ValueError as error:
    raise ImproperlyConfigured(f"CONNLOGS_STALE_AFTER: {error}") from None
# Session tokens made by POST /api/v2/users/login live this long (seconds).
CONNLOGS_SESSION_TOKEN_LIFETIME = int(
    os.environ.get("CONNLOGS_SESSION_TOKEN_LIFETIME") or 24 * 3600
)
# Failed sign-ins per account or per address before further tries are refused for a while.
CONNLOGS_LOGIN_MAX_FAILURES = int(os.environ.get("CONNLOGS_LOGIN_MAX_FAILURES") or 5)
CONNLOGS_LOGIN_LOCKOUT_SECONDS = int(os.environ.get("CONNLOGS_LOGIN_LOCKOUT_SECONDS") or 300)
# Behind a reverse proxy: the header in which it passes the client's address (for example
# X-Forwarded-For), so that sign-in lockouts count per client, not per proxy.
CONNLOGS_CLIENT_ADDRESS_HEADER = os.environ.get("CONNLOGS_CLIENT_ADDRESS_HEADER") or ""

# --- behind HTTPS (docs/deployment.md) --------------------------------------------------
# CONNLOGS_HTTPS=true says browsers reach us over HTTPS (TLS ends at the reverse proxy):
# redirect plain HTTP, send HSTS, and keep the session and CSRF cookies off plain HTTP.
# `manage.py check --deploy` is clean with it (tests/test_security.py).
CONNLOGS_HTTPS = env_bool("CONNLOGS_HTTPS")
SECURE_SSL_REDIRECT = env_bool("CONNLOGS_SSL_REDIRECT", CONNLOGS_HTTPS)
# Load balancers probe /healthz, and Prometheus scrapes /metrics, over plain HTTP inside the
# network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = int(
    os.environ.get("CONNLOGS_HSTS_SECONDS") or (365 * 24 * 3600 if CONNLOGS_HTTPS else 0)
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("CONNLOGS_HSTS_INCLUDE_SUBDOMAINS", CONNLOGS_HTTPS)
# Preloading is a promise to browsers that is slow to take back: only on request.
SECURE_HSTS_PRELOAD = env_bool("CONNLOGS_HSTS_PRELOAD")
SESSION_COOKIE_SECURE = CONNLOGS_HTTPS
CSRF_COOKIE_SECURE = CONNLOGS_HTTPS
# Only behind a proxy that sets X-Forwarded-Proto itself (and strips it from clients):
# otherwise any client could claim to be on HTTPS.
if env_bool("CONNLOGS_TRUST_X_FORWARDED_PROTO"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
if not SECURE_HSTS_PRELOAD:
    # security.W021 asks for HSTS preloading; that is the operator's decision
    # (CONNLOGS_HSTS_PRELOAD=true), not a default.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"bare": {"format": "%(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        # One JSON object per line, nothing around it, so a log shipper can parse each line.
        "audit": {"class": "logging.StreamHandler", "formatter": "bare"},
    },
    "loggers": {
        "connlogs.events.audit": {"handlers": ["audit"], "level": "INFO", "propagate": False},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL") or "INFO"},
}

# --- scale (docs/scaling.md) ------------------------------------------------------------
# How long connection logs are kept: "90d", "12h", "2w", ...; empty keeps them forever.
# Parsed by connlogs.retention; `manage.py purge_connection_logs` deletes what is older.
CONNLOGS_RETENTION = os.environ.get("CONNLOGS_RETENTION") or ""
# "row" (default): the purge deletes every row past the window. "partition": only whole
# calendar months (UTC) go, a row is kept until its whole month is past the window (at most
# a month longer) and stays readable meanwhile; on PostgreSQL no row is then deleted one by
# one. Parsed by connlogs.retention (docs/scaling.md, section 3).
CONNLOGS_RETENTION_GRANULARITY = os.environ.get("CONNLOGS_RETENTION_GRANULARITY") or "row"
# Migration 0011 partitions the PostgreSQL log in place (under its lock) up to this many rows;
# a bigger log is converted online first (manage.py partition_connection_log).
CONNLOGS_PARTITION_IN_PLACE_MAX_ROWS = int(
    os.environ.get("CONNLOGS_PARTITION_IN_PLACE_MAX_ROWS") or 2_000_000
)
# One JSON line per recorded connection event on the logger "connlogs.events.audit".
CONNLOGS_EVENT_LOG = env_bool("CONNLOGS_EVENT_LOG")
# A read replica: reads of connection logs go there, everything else to the primary
# (connlogs/routers.py; docs/scaling.md says how reads stay consistent).
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(
        os.environ["DATABASE_REPLICA_URL"],
        conn_max_age=int(os.environ.get("CONN_MAX_AGE") or 60),
        conn_health_checks=True,
    )
    # A replica that does not answer must fail fast: its reads then go to the primary.
    DATABASES["replica"].setdefault("OPTIONS", {})["connect_timeout"] = 3
    # Tests use the primary's test database for both aliases.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["connlogs.routers.ReplicaRouter"]
# Reads go to the primary while the replica is further behind than this (seconds) or down.
CONNLOGS_REPLICA_MAX_LAG = float(os.environ.get("CONNLOGS_REPLICA_MAX_LAG") or 5)
# How often (seconds) each worker measures the replica's lag; 0: never (always use it).
CONNLOGS_REPLICA_CHECK_SECONDS = float(os.environ.get("CONNLOGS_REPLICA_CHECK_SECONDS") or 1)
# How long (seconds) a client's own write is remembered for read-your-writes.
CONNLOGS_READ_YOUR_WRITES_SECONDS = int(os.environ.get("CONNLOGS_READ_YOUR_WRITES_SECONDS") or 60)
# Several app servers: Django's cache (the chart's short-lived buckets, read-your-writes
# positions) is per process by default. CONNLOGS_CACHE_TABLE=<name> shares it through the
# database (create the table once with `manage.py createcachetable`). The sign-in lockout does
# not use the cache: its counters are always in the database (connlogs/throttle.py).
if os.environ.get("CONNLOGS_CACHE_TABLE"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": os.environ["CONNLOGS_CACHE_TABLE"],
        }
    }
# Behind PgBouncer in transaction pooling mode (DATABASE_POOLER=transaction), consecutive
# transactions of one Django connection may run on different server connections, so nothing
# may outlive a transaction: no prepared statements (PgBouncer < 1.21 cannot track them), no
# server-side cursors (WITH HOLD cursors outlive their transaction), no startup options
# (PgBouncer refuses "options"; set jit with ALTER DATABASE ... SET jit = off instead).
DATABASE_POOLER = (os.environ.get("DATABASE_POOLER") or "").strip().lower()
if DATABASE_POOLER not in {"", "session", "transaction"}:
    raise ImproperlyConfigured("DATABASE_POOLER must be empty, 'session' or 'transaction'.")
for _alias in DATABASES.values():
    if _alias["ENGINE"] != "django.db.backends.postgresql":
        continue
    if DATABASE_POOLER == "transaction":
        _alias.setdefault("OPTIONS", {})["prepare_threshold"] = None
        _alias["DISABLE_SERVER_SIDE_CURSORS"] = True
    else:
        # The log is partitioned by month, and PostgreSQL plans every partition a search
        # cannot rule out (1.5-3.5 ms at 30M rows, more than running it). Parameters bound
        # by the server make a search's SQL the same text whatever its values, so psycopg
        # prepares it at its third run on a connection, and PostgreSQL reuses one generic
        # plan once it is no costlier than the custom ones (docs/scaling.md, "Prepared
        # searches"; ALTER DATABASE ... SET plan_cache_mode = force_custom_plan undoes it).
        _alias.setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=2)
        if not env_bool("CONNLOGS_DB_JIT"):
            # PostgreSQL's JIT compiles any plan costed above jit_above_cost, adding 10-50 ms
            # to a query that runs in a few: the app's connections turn it off unless
            # CONNLOGS_DB_JIT=on.
            _alias["OPTIONS"]["options"] = "-c jit=off"

# --- metrics (docs/deployment.md) ----------------------------------------------------------
# GET /metrics (Prometheus) answers a request carrying "Authorization: Bearer <token>" with
# this token, or one from these networks (comma-separated CIDRs of REMOTE_ADDR); with
# neither set it answers nobody (404).
CONNLOGS_METRICS_TOKEN = os.environ.get("CONNLOGS_METRICS_TOKEN") or ""
CONNLOGS_METRICS_NETWORKS = env_list("CONNLOGS_METRICS_NETWORKS", "")

# --- privacy (docs/privacy.md) -------------------------------------------------------------
# Data protection mode: people and addresses in connection logs are shown as pseudonyms to
# anyone who may not reveal them. "on": in every organization; "organizations": in the
# organizations that turn it on (the admin, or `manage.py data_protection`); "off" (default).
_DATA_PROTECTION = (os.environ.get("CONNLOGS_DATA_PROTECTION") or "off").strip().lower()
CONNLOGS_DATA_PROTECTION = {"true": "on", "1": "on", "false": "off", "0": "off"}.get(
    _DATA_PROTECTION, _DATA_PROTECTION
)
if CONNLOGS_DATA_PROTECTION not in {"on", "off", "organizations"}:
    raise ImproperlyConfigured('CONNLOGS_DATA_PROTECTION must be "on", "off" or "organizations".')
# Site owners see real identities in protected rows (as users with the identity-viewer role
# do); off: only identity viewers do.
CONNLOGS_OWNERS_SEE_IDENTITIES = env_bool("CONNLOGS_OWNERS_SEE_IDENTITIES", True)
# The secret that pseudonyms are keyed with (mixed with a random salt kept in the database,
# which `manage.py rotate_pseudonym_key` replaces); default: SECRET_KEY.
CONNLOGS_PSEUDONYM_SECRET = os.environ.get("CONNLOGS_PSEUDONYM_SECRET") or SECRET_KEY
# The key of the access log's hash chain (HMAC-SHA256); default: derived from SECRET_KEY.
# Keep it stable: `manage.py verify_access_log` checks the chain with it.
CONNLOGS_ACCESS_LOG_KEY = os.environ.get("CONNLOGS_ACCESS_LOG_KEY") or SECRET_KEY
# How long access-log entries are kept ("400d", "forever", ...); default: the connection
# log's retention plus 365 days (forever when the log is kept forever). Never shorter than
# the log's. `manage.py purge_access_log` deletes what is older.
CONNLOGS_ACCESS_LOG_RETENTION = os.environ.get("CONNLOGS_ACCESS_LOG_RETENTION") or ""
# After a response that recorded a read, its worker chains the new access-log entries at
# most this often (seconds); 0: only `manage.py seal_access_log` does.
CONNLOGS_ACCESS_LOG_SEAL_SECONDS = float(os.environ.get("CONNLOGS_ACCESS_LOG_SEAL_SECONDS") or 2)
