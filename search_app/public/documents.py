"""Search from a long need: an uploaded specification (PDF, DOCX, ODT, TXT) or a pasted text too long for a URL.

Both arrive by POST on /recherche/document and end on the ordinary search page, its box filled with the text read,
so the buyer refines it like any search. The upload is read in memory only: nothing is written to disk or logged.
Its text is read by a child process bounded in time and memory (vivier.textfiles.extract_text), and uploads are
limited per client address (DOCUMENT_RATE_LIMIT).
"""

from __future__ import annotations

import io
import unicodedata

from flask import Blueprint, current_app, g, make_response, redirect, render_template, request, url_for
from limits import parse as parse_rate_limit
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from search_app.extensions import form_rate_limit, limiter
from search_app.public.search import parse_search_args, render_search_page
from vivier.textfiles import (ACCEPTED_EXTENSIONS, MAX_TEXT_CHARS, MAX_UPLOAD_BYTES, ReaderBusy, UnreadableDocument,
                              extract_text)

bp = Blueprint("documents", __name__)

# The form fields around the file (the search text carried along, facets, commune) fit in this much.
FORM_FIELDS_BYTES = 1024 * 1024
# This route's body limit (the app's stays at 1 MB): a document at the upload cap plus its form fields. Beyond,
# werkzeug refuses the request with a 413 before reading it.
MAX_REQUEST_BYTES = MAX_UPLOAD_BYTES + FORM_FIELDS_BYTES
# Longest file name shown back to the buyer.
MAX_NAME_CHARS = 120
# Texts longer than this go by POST instead of a GET URL (search-box.js): with percent-encoding, 1,500 French
# characters already make a ~4 kB URL, the request-line limit of common servers (gunicorn: 4094 bytes).
LONG_TEXT_CHARS = 1_500
# Documents sent per client address (the POSTs carrying a file; a long pasted text is not counted). A buyer sends a
# specification or two, then refines the text in the search box; six a minute leave room for a wrong file and its
# retry, and bound what one address can make the server read (each reading up to EXTRACTION_TIMEOUT_S).
DOCUMENT_RATE_LIMIT = "6 per minute"
RATE_LIMITED = ("Trop de documents ont été envoyés depuis cette adresse en peu de temps : attendez une minute, puis "
                "envoyez le document de nouveau. La recherche par texte reste disponible.")


def _memory_stream(total_content_length, content_type, filename, content_length=None):
    return io.BytesIO()


class InMemoryFormDataParser(FormDataParser):
    """Keeps uploaded files in memory (bounded by MAX_REQUEST_BYTES) where werkzeug would spool large ones to a
    temporary file: an uploaded document never touches the disk."""

    def __init__(self, *args, **kwargs):
        kwargs["stream_factory"] = _memory_stream
        super().__init__(*args, **kwargs)


@bp.app_context_processor
def document_search_context():
    return {"document_search": {
        "accept": ",".join(ACCEPTED_EXTENSIONS),
        "max_upload_mb": MAX_UPLOAD_BYTES // (1024 * 1024),
        "max_text_chars": MAX_TEXT_CHARS,
        "long_text_chars": LONG_TEXT_CHARS,
    }}


@bp.get("/recherche/document")
def search_page():
    """Links relative to a document search's page (pagination, suggestions, filters) land here: the search page."""
    query = request.query_string.decode("utf-8", "replace")
    return redirect(url_for("search.index") + (f"?{query}" if query else ""))


def document_rate_limit() -> str:
    """DOCUMENT_RATE_LIMIT, or the forms' limit (VIVIER_FORM_RATE_LIMIT) where a deployment made that one more
    generous (many buyers behind one address, a test harness): an upload is a form sent too."""
    configured = form_rate_limit()
    return configured if _per_second(configured) > _per_second(DOCUMENT_RATE_LIMIT) else DOCUMENT_RATE_LIMIT


def _per_second(limit: str) -> float:
    item = parse_rate_limit(limit)
    return item.amount / item.get_expiry()


def _no_file_sent() -> bool:
    """Only a multipart body can carry a file: the search form's long text (url-encoded) is not limited."""
    return request.mimetype != "multipart/form-data"


@bp.errorhandler(429)
def too_many_documents(error):
    """The limit's page, in French like the app's other error pages, saying what to do."""
    return render_template("errors/error.html", title="Trop de documents envoyés", message=RATE_LIMITED,
                           status=429), 429


# No CSRF token yet (Flask-WTF comes with another issue): this POST only reads the document or text it is sent and
# renders search results; it stores and changes nothing, so a forged request can do no harm.
@bp.post("/recherche/document")
@limiter.limit(document_rate_limit, exempt_when=_no_file_sent)
def search_document():
    try:
        form, files = read_form()
    except RequestEntityTooLarge:
        return _error_page(parse_search_args(request.args), None, 413,
                           f"Le document dépasse la taille maximale de {MAX_UPLOAD_BYTES // (1024 * 1024)} Mo.")
    args = parse_search_args(form)
    upload = files.get("document")
    if upload is None:  # the search form's text, sent by POST because it is long
        response = make_response(render_search_page(args))
        if request.headers.get("HX-Request"):
            response.headers["HX-Push-Url"] = "false"  # a POST has no address to put in the history
        return response
    name = display_name(upload.filename or "")
    if not name:
        return _error_page(args, None, 400, "Choisissez un document (PDF, DOCX, ODT ou TXT) à envoyer.")
    data = upload.stream.read(MAX_UPLOAD_BYTES + 1)
    upload.close()
    try:  # the name as sent: a hand-made one (a ".." folder, a NUL) is refused, not tidied
        text = extract_text(upload.filename or name, data, max_chars=_max_chars())
    except ReaderBusy as error:  # others are being read: this one may be sent again in a few seconds
        return _error_page(args, name, 503, error.message)
    except UnreadableDocument as error:
        return _error_page(args, name, 400, error.message)
    return render_search_page({**args, "text": text, "page": 1}, source_name=name)


def read_form() -> tuple[MultiDict, MultiDict]:
    """The POSTed fields and files, under this route's size limits, files kept in memory."""
    request.max_content_length = MAX_REQUEST_BYTES
    request.max_form_memory_size = FORM_FIELDS_BYTES
    request.form_data_parser_class = InMemoryFormDataParser
    return request.form, request.files


def display_name(filename: str) -> str:
    """The uploaded file's own name, without the client's folders or control characters, shortened."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C")
    name = " ".join(name.split())
    return name if len(name) <= MAX_NAME_CHARS else name[:MAX_NAME_CHARS - 1] + "…"


def _max_chars() -> int:
    """Read one character more than the search uses, so the page says when a document was cut."""
    return min(MAX_TEXT_CHARS, current_app.extensions["vivier"]["settings"].query_max_chars + 1)


def _error_page(args: dict, name: str | None, status: int, message: str):
    """The search page for what the buyer had typed, with the message by the upload field (the error's status
    even when the index is unavailable)."""
    g.document_error = message
    g.document_error_name = name
    response = make_response(render_search_page(args))
    response.status_code = status
    return response
