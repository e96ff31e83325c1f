"""Search backends behind one contract (indexer.backends.base.SearchBackend)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vivier.config import Settings

if TYPE_CHECKING:
    from indexer.backends.base import SearchBackend


def make_backend(settings: Settings, background_reload: bool = False) -> SearchBackend:
    """The configured engine; each is imported only when chosen (tantivy, the Elasticsearch client).
    `background_reload`: a new live index made by another process is loaded off the searches' path (the web app)."""
    if settings.backend == "embedded":
        from indexer.backends.embedded import EmbeddedBackend

        return EmbeddedBackend(settings.index_dir / "embedded", background_reload=background_reload)
    if settings.backend == "elasticsearch":
        from indexer.backends.elasticsearch import ElasticsearchBackend

        return ElasticsearchBackend.from_settings(settings)
    raise NotImplementedError(f"search backend {settings.backend!r} is not available yet")
