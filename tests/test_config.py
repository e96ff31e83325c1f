import pytest

from vivier.config import DEFAULT_QUERY_MAX_CHARS, ConfigError, load_settings


def test_defaults_use_a_sqlite_file_under_the_data_dir(tmp_path):
    settings = load_settings({"VIVIER_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path}/vivier.db"
    assert settings.backend == "embedded" and settings.query_max_chars == DEFAULT_QUERY_MAX_CHARS
    assert settings.index_dir == tmp_path / "index"


def test_database_url_and_elasticsearch_url_are_read(tmp_path):
    settings = load_settings({"DATABASE_URL": "postgresql+psycopg://u@h/db", "ELASTICSEARCH_URL": "http://es:9200"})
    assert settings.database_url.startswith("postgresql") and settings.backend == "elasticsearch"


@pytest.mark.parametrize("env, message", [
    ({"VIVIER_QUERY_MAX_CHARS": "lots"}, "VIVIER_QUERY_MAX_CHARS must be an integer"),
    ({"VIVIER_QUERY_MAX_CHARS": "3"}, "VIVIER_QUERY_MAX_CHARS must be >= 10"),
    ({"VIVIER_SEARCH_BACKEND": "solr"}, "VIVIER_SEARCH_BACKEND must be one of"),
    ({"VIVIER_SEARCH_BACKEND": "elasticsearch"}, "needs ELASTICSEARCH_URL"),
    ({"DATABASE_URL": "vivier.db"}, "DATABASE_URL must be a SQLAlchemy URL"),
])
def test_invalid_values_fail_with_a_clear_message(env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(env)
