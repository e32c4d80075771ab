"""fc_market settings, read from the environment.

Every setting has an environment variable of the same name.  ``FC_ENV``
selects the mode: ``development`` (default), ``test`` or ``production``.
"""
import os
import secrets
import warnings


def _bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def normalise_database_url(url):
    """Use the psycopg (v3) driver for PostgreSQL URLs given without a driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


class Config:
    FC_ENV = os.environ.get("FC_ENV", "development")
    #: SQLite file in the instance folder unless DATABASE_URL says otherwise.
    SQLALCHEMY_DATABASE_URI = normalise_database_url(
        os.environ.get("DATABASE_URL", "sqlite:///fc_market.db"))
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    SECRET_KEY = os.environ.get("SECRET_KEY")

    # Sessions and cookies
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", FC_ENV == "production")
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    PERMANENT_SESSION_LIFETIME = int(os.environ.get("SESSION_LIFETIME_SECONDS", 8 * 3600))
    #: A session without any request for this long is closed (server side, every copy of it)
    SESSION_IDLE_MINUTES = int(os.environ.get("SESSION_IDLE_MINUTES", 30))
    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None  # token valid for the session's lifetime

    # Login throttling: per account and per client address, counted in the database
    LOGIN_MAX_FAILURES = int(os.environ.get("LOGIN_MAX_FAILURES", 5))
    LOGIN_LOCKOUT_MINUTES = int(os.environ.get("LOGIN_LOCKOUT_MINUTES", 15))
    LOGIN_MAX_ATTEMPTS_PER_IP = int(os.environ.get("LOGIN_MAX_ATTEMPTS_PER_IP", 30))
    LOGIN_IP_WINDOW_MINUTES = int(os.environ.get("LOGIN_IP_WINDOW_MINUTES", 10))

    # Uploads
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_UPLOAD_BYTES", 25 * 1024 * 1024))
    UPLOAD_FOLDER = os.environ.get("UPLOAD_FOLDER")  # default: <instance>/files

    # Mail (notifications always go to the in-app outbox; SMTP only when set)
    MAIL_SERVER = os.environ.get("MAIL_SERVER")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", 587))
    MAIL_USE_TLS = _bool("MAIL_USE_TLS", True)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "fc-market@localhost")

    # Scheduler: only the process started with `flask scheduler run` runs jobs
    SCHEDULER_TIMEZONE = os.environ.get("SCHEDULER_TIMEZONE", "Europe/Paris")

    #: Number of reverse proxies in front of the app (X-Forwarded-For trusted that many hops)
    PROXY_HOPS = int(os.environ.get("PROXY_HOPS", 0))
    LOG_FORMAT = os.environ.get("LOG_FORMAT")  # json or text (default: json in production)
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()

    BABEL_LOCALE = "fr_FR"
    APP_TIMEZONE = "Europe/Paris"


class TestConfig(Config):
    FC_ENV = "test"
    TESTING = True
    SECRET_KEY = "test-secret-key"
    WTF_CSRF_ENABLED = False
    #: Fast hashing in tests only; production keeps werkzeug's scrypt default
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"
    SESSION_COOKIE_SECURE = False
    SQLALCHEMY_DATABASE_URI = normalise_database_url(
        os.environ.get("TEST_DATABASE_URL", os.environ.get("DATABASE_URL", "sqlite://")))


def finalise(app):
    """Checks that need the whole configuration: refuse an unsafe production start."""
    if not app.config.get("SECRET_KEY"):
        if app.config.get("FC_ENV") == "production":
            raise RuntimeError("SECRET_KEY must be set when FC_ENV=production")
        app.config["SECRET_KEY"] = _development_key(app.instance_path)
    if app.config.get("FC_ENV") == "production" and app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        warnings.warn("FC_ENV=production with SQLite: PostgreSQL is the production database",
                      stacklevel=2)


def _development_key(instance_path):
    """A random key kept in the instance folder, so development sessions survive restarts."""
    path = os.path.join(instance_path, "dev_secret_key")
    try:
        with open(path, encoding="ascii") as fh:
            key = fh.read().strip()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32)
    os.makedirs(instance_path, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key)
    warnings.warn(f"SECRET_KEY is not set: generated a development key in {path} "
                  "(set SECRET_KEY in production)", stacklevel=3)
    return key
