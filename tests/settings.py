"""Settings for the test suite: the app's own settings, with a throw-away data directory and fast hashing."""

import os
import tempfile

# One data directory per pytest-xdist worker: import folders are named by job id, and ids repeat
# across the workers' databases.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
os.environ["RAPPORT_DATA_DIR"] = tempfile.mkdtemp(prefix=f"rapport-test-{_worker}-")
os.environ.setdefault("SECRET_KEY", "test-secret-key-that-is-long-enough-for-the-checks-0123456789")
os.environ.setdefault("SITE_URL", "http://testserver")

from rapport.settings import *  # noqa: E402, F403
from rapport.settings import HUEY  # noqa: E402

ALLOWED_HOSTS = ["*"]
# Argon2 is the production hasher (tested in tests/core/test_auth.py); MD5 keeps fixtures fast.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", "django.contrib.auth.hashers.Argon2PasswordHasher"]
HUEY = {**HUEY, "immediate": True}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LOGGING = {"version": 1, "disable_existing_loggers": False}
