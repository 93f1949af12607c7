"""Settings for the 112 dispatch platform.

Everything that differs between a laptop and the command centre comes from the environment
(CONTRACT §2). `make run` writes its generated demo values to `var/demo.env`; that file is read
only when it exists, and real environment variables always win over it. A production host
has no var/demo.env (see the README's production checklist).
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# `make test` sets this to "" so the suite never runs with the demo's values.
DEMO_ENV_FILE = env("DISPATCH_DEMO_ENV_FILE", default=str(VAR_DIR / "demo.env"))
if DEMO_ENV_FILE and Path(DEMO_ENV_FILE).exists():
    environ.Env.read_env(DEMO_ENV_FILE, overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off.")
    SECRET_KEY = "insecure-development-key-only-for-debug"  # noqa: S105

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="").rstrip("/")
CSRF_TRUSTED_ORIGINS = [PUBLIC_BASE_URL] if PUBLIC_BASE_URL else []

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "channels",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "accounts",
    "agencies",
    "calls",
    "dispatch",
    "reports",
]

# Every entry runs on the event loop under ASGI (config/middleware.py says why, and changes
# Django's own in place): a request crosses to a thread for its view only.
# tests/test_middleware_modes.py fails if an entry would hand off to a thread.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.StaticFiles",
    "config.middleware.RefuseOversizedBodies",
    "config.middleware.ContentSecurityPolicy",
    "config.middleware.ApiNeverCached",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.middleware.ConsoleLanguageFirst",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into its answer (accounts.signin).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.site",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A connection pool per process. Under ASGI every request runs in a thread of its own, so
    # persistent connections (CONN_MAX_AGE) would pile up one per thread; opening a fresh one
    # per webhook cost ~40 % of its time (bench/RESULTS.md). The pool hands them back instead.
    DATABASES["default"]["OPTIONS"] = {
        # A database that does not answer must not hold a 112 caller: the voice webhook falls
        # back to its TwiML when no connection comes within these seconds (Twilio waits 15).
        "connect_timeout": 2,
        # Parameters sent apart from the statement, and a statement run 5 times on a connection
        # prepared there (psycopg's default threshold; Django leaves it off): PostgreSQL then
        # parses and plans the voice intake's two statements once per connection instead of
        # once per call, 0.5 ms of its CPU per call (bench/RESULTS.md). A pooler in front of
        # PostgreSQL must keep prepared statements per server connection (PgBouncer ≥ 1.21
        # with max_prepared_statements, or session pooling).
        "server_side_binding": True,
        "prepare_threshold": 5,
        "pool": {
            "min_size": env.int("DB_POOL_MIN", default=2),
            "max_size": env.int("DB_POOL_MAX", default=20),
            "timeout": env.float("DB_POOL_TIMEOUT", default=2.0),
        },
    }
    # The same backend, with a pool that survives a database restart (config/postgres).
    DATABASES["default"]["ENGINE"] = "config.postgres"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default is shared by web, worker and beat: wait for a lock instead of
    # failing with "database is locked", and start write transactions eagerly.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "agencies.User"

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")

# redis-py 8 gives every connection a 5-second read timeout, and the layer's receive() waits in
# BZPOPMIN for up to 5 seconds (brpop_timeout): after each quiet 5 s the read timed out and the
# consumer holding the receive died, one dashboard socket every 5 s (django/channels_redis#422;
# bench/RESULTS.md). The read timeout must outlast the blocking pop; keeping one still lets a
# hung Redis be noticed.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
            "capacity": 1500,
            "expiry": 60,
            "group_expiry": 86400,
        },
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "Asia/Jakarta"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in (CONTRACT §12). django-axes counts failed passwords per username in the database, so
# a lockout holds on every web process; its backend goes first and refuses a locked-out
# username even with the right password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_LOCKOUT_PARAMETERS = ["username"]
# axes.W006 asks to lock addresses too; a whole control room signs in from one address, and the
# token endpoint's per-address throttle already slows guessing from one client.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_FAILURE_LIMIT = 10
AXES_COOLOFF_TIME = timedelta(minutes=15)
# The client address is REMOTE_ADDR alone: uvicorn sets it from X-Forwarded-For only for the
# proxies in FORWARDED_ALLOW_IPS (Procfile); the header itself is anyone's to write.
AXES_CLIENT_IP_CALLABLE = "accounts.signin.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.signin.lockout_response"
# Roles that confirm a TOTP code at sign-in, e.g. "admin,supervisor" (CONTRACT §12). Empty: off.
# The roles are the User model's; an unknown one stops the start (dispatch.apps).
REQUIRE_2FA = [role.strip().lower() for role in env.list("REQUIRE_2FA", default=[]) if role.strip()]
OTP_TOTP_ISSUER = "112 Dispatch"
# API tokens stop working this many days after they were issued; POST auth/token/ then issues
# a new one.
API_TOKEN_DAYS = env.int("API_TOKEN_DAYS", default=30)

# One cache for every web process (DRF's sign-in throttle counts there). Short timeouts: with
# Redis away the throttle lets requests through (accounts.signin) instead of hanging them.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "dispatch",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "id"
LANGUAGES = [("id", _("Bahasa Indonesia")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Jakarta"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# A webhook or API body larger than this is refused with 400 before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.tokens.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "dispatch.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "dispatch.api.errors.exception_handler",
    # DRF's three, with a JSON parser that refuses deeply nested documents (400, not 500).
    "DEFAULT_PARSER_CLASSES": [
        "dispatch.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_RATES": {"login": "20/min"},
    # Throttles key on REMOTE_ADDR, never on a client-supplied X-Forwarded-For (see AXES above).
    "NUM_PROXIES": 0,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "112 Dispatch API",
    "DESCRIPTION": "Calls, incidents, agency assignments and their timeline.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the pinned drf-spectacular-sidecar package, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Three choice sets share the field name `status`; name each (else W001 in check --deploy).
    "ENUM_NAME_OVERRIDES": {
        "IncidentStatusEnum": "dispatch.models.Incident.Status",
        "AssignmentStatusEnum": "dispatch.models.Assignment.Status",
        "AssignmentProgressEnum": ["en_route", "on_scene", "completed", "declined"],
    },
}

# Telephony (CONTRACT §2). Without an auth token every Twilio webhook is refused.
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env("TWILIO_FROM_NUMBER", default="")
# Empty counts as unset: docker-compose.yml passes `${TELEPHONY_BACKEND:-}` through.
TELEPHONY_BACKEND = env("TELEPHONY_BACKEND", default="") or (
    "twilio" if (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN) else "console"
)
# Checked here, at start: a typo must not quietly turn a live centre into the console backend,
# and Twilio without its credentials or its callback address fails on the first call.
if TELEPHONY_BACKEND not in ("twilio", "console"):
    raise ImproperlyConfigured(
        f"TELEPHONY_BACKEND is {TELEPHONY_BACKEND!r}: set it to 'twilio' or 'console' "
        "(or leave it empty to choose by whether the Twilio credentials are set)."
    )
if TELEPHONY_BACKEND == "twilio" and not (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN):
    raise ImproperlyConfigured(
        "TELEPHONY_BACKEND=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN: set both, "
        "or set TELEPHONY_BACKEND=console."
    )
if TELEPHONY_BACKEND == "twilio" and not PUBLIC_BASE_URL and not DEBUG:
    raise ImproperlyConfigured(
        "TELEPHONY_BACKEND=twilio needs PUBLIC_BASE_URL, the https address Twilio calls back "
        "(e.g. https://112.example.go.id), when DJANGO_DEBUG is off."
    )
FALLBACK_PHONE_NUMBER = env("FALLBACK_PHONE_NUMBER", default="")
OPERATOR_QUEUE_NAME = env("OPERATOR_QUEUE_NAME", default="operators-112")
# Callers beyond this many waiting get the fallback number (or a retry): sized for the centre's
# worst hour, well above its operators (Twilio's own default is 100, its limit 5,000).
OPERATOR_QUEUE_MAX_SIZE = env.int("OPERATOR_QUEUE_MAX_SIZE", default=250)
# How long a picked-up caller rings the operator before going back to the queue.
OPERATOR_RING_SECONDS = env.int("OPERATOR_RING_SECONDS", default=20)
# The operators' browser softphone (CONTRACT §9): an API key and a TwiML App of the account.
TWILIO_API_KEY_SID = env("TWILIO_API_KEY_SID", default="")
TWILIO_API_KEY_SECRET = env("TWILIO_API_KEY_SECRET", default="")
TWILIO_TWIML_APP_SID = env("TWILIO_TWIML_APP_SID", default="")
SOFTPHONE_TOKEN_SECONDS = 3600  # the contract's maximum; the console refreshes it before expiry
PHONE_REGION = "ID"
# Indonesian SMS gateway (CONTRACT §10): Twilio cannot receive SMS on Indonesian numbers, so a
# local gateway posts texts to /calls/sms-gateway/ signed with this key. Empty: refused.
SMS_GATEWAY_SECRET = env("SMS_GATEWAY_SECRET", default="")
# Where the platform posts outbound texts when TELEPHONY_SMS_BACKEND is `gateway`.
SMS_GATEWAY_URL = env("SMS_GATEWAY_URL", default="")
SMS_GATEWAY_TIMEOUT = env.float("SMS_GATEWAY_TIMEOUT", default=10.0)
# Texts may go another way than calls (the local gateway while Twilio does voice). Empty: the
# voice backend's choice, resolved when sending (telephony.sms_gateway), not here.
TELEPHONY_SMS_BACKEND = env("TELEPHONY_SMS_BACKEND", default="")
if TELEPHONY_SMS_BACKEND not in ("", "twilio", "gateway", "console"):
    raise ImproperlyConfigured(
        f"TELEPHONY_SMS_BACKEND is {TELEPHONY_SMS_BACKEND!r}: set it to 'twilio', 'gateway' or "
        "'console' (or leave it empty to send texts like TELEPHONY_BACKEND)."
    )
if TELEPHONY_SMS_BACKEND == "gateway" and not (SMS_GATEWAY_URL and SMS_GATEWAY_SECRET):
    raise ImproperlyConfigured(
        "TELEPHONY_SMS_BACKEND=gateway needs SMS_GATEWAY_URL and SMS_GATEWAY_SECRET: set both."
    )
if TELEPHONY_SMS_BACKEND == "twilio" and not (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN):
    raise ImproperlyConfigured(
        "TELEPHONY_SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN: set both."
    )

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the console's fetch() reads it to send X-CSRFToken
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # The TLS proxy answers health checks on plain HTTP from the same host; a Prometheus on
    # the same host scrapes /metrics over loopback.
    SECURE_REDIRECT_EXEMPT = [r"^healthz/$", r"^metrics$"]

# `json`: one JSON object per line with the incident reference and call SID (config.logformat).
LOG_FORMAT = env("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be 'plain' or 'json'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.logformat.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# `Authorization: Bearer <METRICS_TOKEN>` reads /metrics from outside loopback (CONTRACT §12).
# Empty: loopback only.
METRICS_TOKEN = env("METRICS_TOKEN", default="")

# The consoles' map draws its background from this tile server ({z}/{x}/{y}, Leaflet's form);
# the Content-Security-Policy allows its host, and only it. Empty: no tiles (a centre without
# internet still sees kecamatan, kelurahan and incidents as points).
MAP_TILE_URL = env("MAP_TILE_URL", default="https://tile.openstreetmap.org/{z}/{x}/{y}.png")
MAP_TILE_ATTRIBUTION = env("MAP_TILE_ATTRIBUTION", default="© OpenStreetMap contributors")

INCIDENT_REFERENCE_PREFIX = env("INCIDENT_REFERENCE_PREFIX", default="CLG")
CITY_NAME = env("CITY_NAME", default="Kota Cilegon")

# Escalation deadlines are rows; this sweep fires the due ones (CONTRACT §8). A sweep that
# waited in the queue longer than a few periods is dropped: a newer one does the same work.
ESCALATION_SWEEP_SECONDS = env.float("ESCALATION_SWEEP_SECONDS", default=2.0)
CELERY_BEAT_SCHEDULE = {
    "escalation-sweep": {
        "task": "dispatch.tasks.sweep",
        "schedule": ESCALATION_SWEEP_SECONDS,
        "options": {"expires": 5 * ESCALATION_SWEEP_SECONDS},
    },
    # The reports' rollups (reports.rollup): the hours that are over, those made stale.
    "reports-rollup": {
        "task": "reports.tasks.refresh_rollups",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
}
