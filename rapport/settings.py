"""Django settings for Rapport, read from the environment (see ``rapport.config`` and the README)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from rapport import config

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = config.data_dir()

DEBUG = config.env_bool("DEBUG", False)
SECRET_KEY = config.secret_key(DATA_DIR, DEBUG)
SITE_URL = config.site_url()
ALLOWED_HOSTS = config.env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", urlsplit(SITE_URL).hostname or ""])
CSRF_TRUSTED_ORIGINS = [SITE_URL]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "huey.contrib.djhuey",
    "ninja",
    "rapport.core",
    "rapport.contacts",
    "rapport.sales",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "rapport.core.middleware.ApiBodyLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "rapport.urls"
WSGI_APPLICATION = "rapport.wsgi.application"

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
                "rapport.core.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {"default": config.database(os.environ.get("DATABASE_URL"), DATA_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Failed log-ins allowed per username and per client address in the window before log-in is refused.
LOGIN_THROTTLE_ATTEMPTS = 5
LOGIN_THROTTLE_WINDOW_SECONDS = 15 * 60
# How many reverse proxies (nginx, a load balancer) stand in front of Rapport. Behind N proxies the
# client's address is the N-th last entry of X-Forwarded-For; with 0 it is the connection's address.
TRUSTED_PROXIES = config.env_int("RAPPORT_TRUSTED_PROXIES", 0)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 14 * 24 * 3600
CSRF_COOKIE_SAMESITE = "Lax"
_secure = SITE_URL.startswith("https://")
SESSION_COOKIE_SECURE = _secure
CSRF_COOKIE_SECURE = _secure
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if _secure:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LANGUAGE_CODE = "en-gb"
TIME_ZONE = config.time_zone()
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
# WhiteNoise warns at every start when this directory is missing, though only `collectstatic` fills it.
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from the app directories, so no collectstatic step is needed on a single machine.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Uploads (imports) are streamed to the data directory, never held in memory.
MEDIA_ROOT = DATA_DIR / "uploads"
# Uploads are never served as files: imports are downloaded through views that check access. A URL
# that nothing routes to keeps Django's test server from serving MEDIA_ROOT at "/".
MEDIA_URL = "/uploads-are-not-served/"
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 20_000
IMPORT_MAX_FILE_BYTES = config.env_int("RAPPORT_IMPORT_MAX_BYTES", 512 * 1024 * 1024)
# Largest JSON body the REST API accepts; the bulk endpoint's 1,000 records fit well inside it.
API_MAX_BODY_BYTES = 5 * 1024 * 1024
API_BULK_MAX_RECORDS = 1000
API_PAGE_SIZE_DEFAULT = 50
API_PAGE_SIZE_MAX = 500

_email = config.email(os.environ.get("EMAIL_URL"), DATA_DIR)
EMAIL_BACKEND = _email.backend
EMAIL_HOST = _email.host
EMAIL_PORT = _email.port
EMAIL_HOST_USER = _email.user
EMAIL_HOST_PASSWORD = _email.password
EMAIL_USE_TLS = _email.use_tls
EMAIL_USE_SSL = _email.use_ssl
EMAIL_FILE_PATH = _email.file_path
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = _email.from_address or os.environ.get("DEFAULT_FROM_EMAIL", "Rapport <rapport@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

REDIS_URL = config.redis_url()
if REDIS_URL:
    HUEY: dict[str, object] = {
        "huey_class": "huey.RedisHuey",
        "name": "rapport",
        "connection": {"url": REDIS_URL},
        "immediate": config.env_bool("RAPPORT_TASKS_IMMEDIATE", False),
    }
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "rapport",
        "filename": str(DATA_DIR / "huey.sqlite3"),
        "immediate": config.env_bool("RAPPORT_TASKS_IMMEDIATE", False),
    }

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Default region for phone numbers written without a country code, when the record has no country.
DEFAULT_PHONE_REGION = config.phone_region()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": config.log_level()},
    "loggers": {"django.db.backends": {"level": "INFO"}, "huey": {"level": "INFO"}},
}
