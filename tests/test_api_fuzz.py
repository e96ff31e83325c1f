"""Property-based test of the JSON API: schemathesis reads the app's own OpenAPI description and sends generated
requests to every endpoint through WSGI; none may end in a server error, and answers must fit their schema and
declared media type."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

# Generated requests per operation: enough to hit malformed numbers, lists, cursors and unknown communes, within
# the test suite's budget (dense-mode queries embed their text).
MAX_EXAMPLES = 30


@pytest.fixture(scope="module")
def api_schema(indexed_settings, encoder):
    from search_app import create_app

    app = create_app(settings=indexed_settings, encoder=encoder)
    # Many requests from one address in a few seconds: the rate limit is not what this test is about.
    app.config.update(TESTING=True, API_RATE_LIMIT="100000 per minute")
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


# Operations of the description (path, method); the test reads their generators from the live description.
OPERATIONS = [("/api/v1/search", "GET"), ("/api/v1/suppliers/{supplier_id}", "GET"), ("/api/v1/projects", "GET"),
              ("/api/v1/projects/{slug}", "GET"), ("/api/v1/categories", "GET"), ("/api/v1/departments", "GET")]


def test_the_fuzzed_operations_are_all_of_the_description(api_schema):
    described = {(op.ok().path, op.ok().method.upper()) for op in api_schema.get_all_operations()}
    assert described - {("/api/v1/openapi.json", "GET"), ("/api/v1/docs", "GET")} <= set(OPERATIONS)


@pytest.mark.parametrize("path, method", OPERATIONS)
def test_no_server_error_and_answers_fit_the_description(api_schema, path, method):
    """Hypothesis drives schemathesis' generator directly (its pytest plugin does not run on this pytest)."""
    strategy = api_schema[path][method].as_strategy()

    @given(case=strategy)
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case):
        case.call_and_validate(checks=[not_a_server_error, response_schema_conformance, content_type_conformance])

    run()
