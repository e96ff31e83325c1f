"""Plain text from an uploaded specification (PDF, DOCX, ODT or plain text), to search with it.

Pure: bytes in, text out, nothing written to disk. The type is read from the content (magic bytes); the file name
only words the error messages. Every failure raises `UnreadableDocument` with a French message for the buyer;
`UnsafeDocument` when a file of an accepted type is refused for what it could do once opened (a PDF with scripts,
a web page with a PDF header, a hand-made file name), which the project attachments refuse too.

`extract_text` reads in a child Python process bounded in memory and time: whatever a crafted file makes a parser
do, it costs the web worker at most EXTRACTION_TIMEOUT_S seconds of waiting and the machine at most
EXTRACTION_MEMORY_BYTES. `read_text` is the same reading in the calling process, unbounded. The text of a DOCX or
ODT is read from its XML as a stream (expat, no DTD), bounded in size, depth and element count.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import re
import subprocess
import sys
import threading
import warnings
import zipfile
import zlib
from xml.parsers import expat

from vivier.text import clean_text

logger = logging.getLogger(__name__)

# A 100-page specification with a few pictures weighs 1-5 MB; beyond 10 MB it is mostly images, not text.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# Pages read at most (~20 ms each with pypdf): bounds the time; the character cap is usually reached first.
MAX_PDF_PAGES = 200
# About 40 pages of text: far more than a need needs; the search itself reads only its query_max_chars.
MAX_TEXT_CHARS = 100_000
# Zip-bomb guard: a DOCX or ODT whose parts would decompress to more than this is refused before parsing (each part
# is inflated once to check it). Real 200-page documents with pictures stay well under 30 MB.
MAX_UNCOMPRESSED_BYTES = 64 * 1024 * 1024
# A text document holds a few dozen parts; thousands are a crafted file.
MAX_ZIP_ENTRIES = 2_000
# The XML part whose text is read (DOCX word/document.xml, ODT content.xml) is refused beyond this size, before it
# is parsed. 200 pages of text and tables make 0.8 MB of it with python-docx's lean markup; Word, which formats and
# tags every run, writes a few MB. 16 MB leaves a wide margin and is parsed as a stream in about a second (15 MB of
# such paragraphs: 0.95 s), where the zip guard alone let 63 MB cost odfpy 67 s and 2.9 GB.
MAX_XML_PART_BYTES = 16 * 1024 * 1024
# Elements nested deeper than this: a hand-made file. The limit libxml2 applies by default (so python-docx, through
# lxml, never read deeper); real documents, nested tables and lists included, stay under 50.
MAX_XML_DEPTH = 256
# Elements read at most in that part. Real markup spends 25 bytes or more per element (namespaced names,
# attributes), so a real document under MAX_XML_PART_BYTES has fewer than 700,000; a million bounds the parsing of a
# crafted one made of empty elements (6 bytes each) to about a second.
MAX_XML_ELEMENTS = 1_000_000
# Bytes of a zip member handed to the XML parser at a time: reading stops within one chunk of MAX_TEXT_CHARS.
XML_CHUNK_BYTES = 64 * 1024
# The child process's wall-clock limit. Real documents take a second or two: a 9 MB, 200-page PDF 1 s, a DOCX of
# MAX_XML_PART_BYTES about as much; 15 s leaves room for a loaded 2-core server. A file built to be slow is stopped
# there (an 18 kB PDF whose 100 pages draw one stream of 200,000 empty text operators costs pypdf 2 s a page, over
# 3 minutes), well before gunicorn's 60 s worker timeout (deploy/gunicorn.conf.py): the worker answers, not killed.
EXTRACTION_TIMEOUT_S = 15.0
# The child process's address space (RLIMIT_AS). It starts at ~60 MB (Python, pypdf); a real 9 MB, 200-page PDF
# peaks at ~110 MB, and pypdf's own budget of 2 million tokens per content stream lets a crafted page reach ~340 MB.
# 512 MB admits all of that (the DOCX and ODT readers stream and need far less) and bounds what the uploads being
# read at once can take beside the 0.8-1.4 GB each gunicorn worker keeps for the model and the index.
EXTRACTION_MEMORY_BYTES = 512 * 1024 * 1024
# Documents read at once by one process (a gunicorn worker): with its 2 threads, one stays free for searches
# however many uploads arrive together. Another upload waits for the reading under way at most this many seconds
# (real documents take one or two), then is told to try again.
MAX_CONCURRENT_EXTRACTIONS = 1
EXTRACTION_WAIT_S = 5.0
# Below this many letters per page read, a PDF's text layer is only page numbers or a scanner's stamp.
MIN_LETTERS_PER_PDF_PAGE = 25
# A plain-text file with more control characters than this share is a binary file.
MAX_CONTROL_SHARE = 0.01
ACCEPTED_EXTENSIONS = (".pdf", ".docx", ".odt", ".txt")

# What makes a PDF act rather than show: scripts, programs launched, files carried inside, forms run by a plug-in,
# data sent away. A specification needs none of them; a reader that runs them would run them for an attacker.
PDF_ACTIVE_KEYS = frozenset({"/JavaScript", "/JS", "/Launch", "/EmbeddedFiles", "/EmbeddedFile", "/RichMedia",
                             "/XFA"})
PDF_ACTIVE_ACTIONS = frozenset({"/JavaScript", "/Launch", "/ImportData", "/SubmitForm", "/GoToE",
                                "/RichMediaExecute"})
# Those looked for in the raw bytes too (where pypdf cannot read the file): the long ones only, which compressed
# binary streams do not spell out by chance (a 10 MB stream holds "/JS" followed by a delimiter about every other
# file).
PDF_RAW_ACTIVE_NAMES = frozenset(name for name in PDF_ACTIVE_KEYS | PDF_ACTIVE_ACTIONS if len(name) >= 6)
# Objects visited at most while looking for them: a 500-page report has a few tens of thousands.
MAX_PDF_OBJECTS = 200_000
# Compressed object streams (/Type /ObjStm) are inflated here too, whatever pypdf makes of them (pypdf 7 refuses
# the abbreviated /Fl filter name that readers still honour), and their names looked for: at most this many bytes
# in all, past which the file is refused. They hold only the document's dictionaries, 1-3 kB a page in real files,
# so a 500-page report's inflate to a few MB; 32 MB takes zlib and the name scan well under a second.
MAX_PDF_OBJECT_STREAM_BYTES = 32 * 1024 * 1024
# Object streams checked at most: each holds up to a few hundred objects, so a 500-page report has a few hundred;
# thousands (each decoded, some by pypdf) are a crafted file, refused.
MAX_PDF_OBJECT_STREAMS = 5_000
# A stream's dictionary is looked for this far before its "stream" keyword (real ones take well under 1 kB).
MAX_PDF_DICTIONARY_BYTES = 64 * 1024
# Markup before a "%PDF-" (which readers look for in the first 1024 bytes), or at the start of a "text" file: a web
# page or an SVG image dressed up as a document (a polyglot a browser would render and run).
MARKUP_START = re.compile(rb"<\s*(?:[!?]|html|head|body|script|svg|iframe|object|embed|img|meta|a\s)",
                          re.IGNORECASE)

PDF_MAGIC = b"%PDF-"
ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .doc/.xls, and password-protected Office files
RTF_MAGIC = b"{\\rtf"
ODT_MIMETYPES = ("application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.text-template")
KIND_NAMES = {"pdf": "PDF", "docx": "Word (DOCX)", "odt": "OpenDocument (ODT)", "txt": "texte"}

UNSUPPORTED = ("Ce type de fichier n'est pas pris en charge : joignez un PDF, un document Word (.docx), "
               "OpenDocument (.odt) ou un fichier texte (.txt).")
PROTECTED_PDF = ("Ce PDF est protégé par un mot de passe : enregistrez-en une copie sans mot de passe, ou collez "
                 "son texte dans la zone de recherche.")
SCANNED = ("Ce PDF ne contient pas de texte (document scanné ?). Joignez la version d'origine (.docx, .odt) ou "
           "collez le texte dans la zone de recherche.")
ACTIVE_PDF = ("Ce PDF contient du contenu actif (script, programme à lancer ou fichier incorporé) : pour votre "
              "sécurité, il est refusé. Enregistrez-le de nouveau avec « Imprimer en PDF », ou joignez la version "
              "d'origine (.docx, .odt).")
BAD_NAME = ("Le nom du fichier contient « .. » ou des caractères de contrôle : renommez le fichier, puis "
            "envoyez-le de nouveau.")
MARKUP = ("Ce fichier est une page web ou une image SVG, pas un document : joignez un PDF, un document Word (.docx) "
          "ou OpenDocument (.odt).")
UNCHECKABLE_PDF = ("Ce PDF est endommagé ou construit de façon inhabituelle : son contenu n'a pas pu être vérifié, il "
                   "est donc refusé pour votre sécurité. Enregistrez-le de nouveau avec « Imprimer en PDF », ou "
                   "joignez la version d'origine (.docx, .odt).")
XML_DECLARATIONS = ("Ce document contient des déclarations XML (DTD, entités) qu'un traitement de texte n'écrit "
                    "pas : pour votre sécurité, il est refusé. Enregistrez-le de nouveau depuis votre traitement de "
                    "texte.")
TOO_COMPLEX = ("Ce document est trop complexe pour être lu dans le temps et la mémoire impartis : enregistrez-le de "
               "nouveau (ou avec « Imprimer en PDF »), ou collez son texte dans la zone de recherche.")
_SIMPLER = "Enregistrez-le en PDF avec « Imprimer en PDF », ou collez son texte dans la zone de recherche."
XML_TOO_LARGE = (f"Ce document est trop complexe pour être lu : son texte et sa mise en forme dépassent "
                 f"{MAX_XML_PART_BYTES // (1024 * 1024)} Mo une fois décompressés. {_SIMPLER}")
XML_TOO_DEEP = (f"Ce document est trop complexe pour être lu : ses éléments sont imbriqués sur plus de {MAX_XML_DEPTH} "
                f"niveaux (fichier construit à la main ?). {_SIMPLER}")
XML_TOO_MANY = ("Ce document est trop complexe pour être lu : il compte plus de "
                + format(MAX_XML_ELEMENTS, ",").replace(",", "\u202f") + f" éléments de mise en forme. {_SIMPLER}")
UNAVAILABLE = "Le document n'a pas pu être lu pour le moment : réessayez dans un instant."
BUSY = "D'autres documents sont en cours de lecture : réessayez dans quelques secondes."


class UnreadableDocument(ValueError):
    """A document that cannot be turned into text; `message` is French, for the buyer."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UnsafeDocument(UnreadableDocument):
    """A document of an accepted type refused for what it could do: active PDF content, a web page carrying a PDF
    header, a hand-made file name."""


class ReaderBusy(UnreadableDocument):
    """No document could be read now: others are (MAX_CONCURRENT_EXTRACTIONS); the same file may be sent again."""


def unsafe_reason(filename: str, data: bytes) -> str | None:
    """The French reason why this file, of a type otherwise accepted, is refused as dangerous; None for any other
    file (accepted, or merely unreadable). The words for a refused attachment, whose own message only names the
    accepted types."""
    try:
        detect_kind(filename, data)
    except UnsafeDocument as error:
        return error.message
    except UnreadableDocument:
        return None
    return None


def extract_text(filename: str, data: bytes, max_chars: int = MAX_TEXT_CHARS) -> str:
    """The document's text: paragraphs separated by a blank line, single spaces, at most `max_chars` characters
    (reading stops once they are gathered). Read by `read_text` in a child process bounded by EXTRACTION_TIMEOUT_S
    and EXTRACTION_MEMORY_BYTES: a file that needs more is refused as too complex. ReaderBusy when this process
    already reads MAX_CONCURRENT_EXTRACTIONS documents and none ends within EXTRACTION_WAIT_S."""
    _check_size(data)
    if not _EXTRACTION_SLOTS.acquire(timeout=EXTRACTION_WAIT_S):
        raise ReaderBusy(BUSY)
    try:
        return _read_in_child(filename, data, max_chars)
    finally:
        _EXTRACTION_SLOTS.release()


def read_text(filename: str, data: bytes, max_chars: int = MAX_TEXT_CHARS) -> str:
    """`extract_text` in this process, without its time and memory bounds: what the child process runs."""
    _check_size(data)
    kind = detect_kind(filename, data)
    readers = {"pdf": _pdf_paragraphs, "docx": _docx_paragraphs, "odt": _odt_paragraphs, "txt": _text_paragraphs}
    text = clean_text("\n\n".join(readers[kind](data, max_chars)))
    if not text:
        raise UnreadableDocument("Ce document ne contient pas de texte.")
    return text[:max_chars]


def _check_size(data: bytes) -> None:
    if not data:
        raise UnreadableDocument("Le fichier est vide.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UnreadableDocument(f"Le fichier dépasse la taille maximale de {MAX_UPLOAD_BYTES // (1024 * 1024)} Mo.")


def detect_kind(filename: str, data: bytes) -> str:
    """'pdf', 'docx', 'odt' or 'txt', from the content; a name that promises another type is a damaged file."""
    _check_name(filename)
    extension = _extension(filename)
    if data.startswith(PDF_MAGIC) or (extension == ".pdf" and PDF_MAGIC in data[:1024]):  # junk before %PDF- is allowed
        if MARKUP_START.search(data[:data.find(PDF_MAGIC)]):  # but not a web page's start
            raise UnsafeDocument(MARKUP)
        check_pdf_passive(data)
        return "pdf"
    if data.startswith(ZIP_MAGIC):
        return _zip_kind(data)
    if data.startswith(OLE2_MAGIC):
        raise UnreadableDocument("Les documents Word anciens (.doc) et les fichiers protégés par mot de passe ne "
                                 "sont pas pris en charge : enregistrez le document en .docx, .odt ou PDF, sans mot "
                                 "de passe.")
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(RTF_MAGIC):
        raise UnreadableDocument("Le format RTF n'est pas pris en charge : enregistrez le document en .docx, .odt "
                                 "ou PDF.")
    if extension in (".pdf", ".docx", ".odt"):
        raise UnreadableDocument(f"Ce fichier n'est pas un {KIND_NAMES[extension[1:]]} valide "
                                 "(fichier endommagé ou mal nommé).")
    text = _decode_text(data)
    if text is None:
        raise UnreadableDocument(UNSUPPORTED)
    if MARKUP_START.match(text.lstrip("\ufeff \t\r\n").encode("utf-8", "replace")):  # not a type we take
        raise UnreadableDocument(MARKUP)
    return "txt"


def _check_name(filename: str) -> None:
    """A browser sends a file's own name (old ones its folders too): a ".." folder or a control character (a NUL
    cutting "rapport.pdf\\0.exe" short) is a hand-made request."""
    name = filename or ""
    if ".." in (part.strip() for part in re.split(r"[\\/]", name)) or _NAME_CONTROLS.search(name):
        raise UnsafeDocument(BAD_NAME)


def _extension(filename: str) -> str:
    name = (filename or "").lower().strip()
    return name[name.rfind("."):] if "." in name else ""


def _open_zip(data: bytes) -> zipfile.ZipFile:
    """The archive, once its declared sizes pass the zip-bomb guard. zipfile never inflates an entry past its
    declared size (it stops and fails the CRC check), so checking the declared sizes bounds memory."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise UnreadableDocument("Le fichier est endommagé : l'archive du document est illisible.") from error
    if len(entries) > MAX_ZIP_ENTRIES or sum(entry.file_size for entry in entries) > MAX_UNCOMPRESSED_BYTES:
        raise UnreadableDocument("Le document est trop volumineux une fois décompressé.")
    if any(entry.flag_bits & 0x1 for entry in entries):
        raise UnreadableDocument("Les documents protégés par mot de passe ne sont pas pris en charge.")
    # An entry that inflates past its declared size (a bomb lying about it) stops there and fails its CRC: each is
    # read through once, so a lying archive is refused here rather than stored or handed to a parser. Its XML parts
    # are searched on the way for entity declarations (billion laughs, external entities), which Word and
    # LibreOffice never write: refused here, they reach neither a parser here nor an attachment's readers.
    declarations = False
    try:
        for entry in entries:
            xml = entry.filename.lower().endswith((".xml", ".rels"))
            tail = b""
            with archive.open(entry) as part:
                while chunk := part.read(1024 * 1024):
                    if xml and not declarations:
                        window = tail + chunk
                        declarations = any(marker in window for marker in _ENTITY_MARKERS)
                        tail = chunk[-_ENTITY_MARKER_BYTES:]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as error:
        raise UnreadableDocument("Le fichier est endommagé : l'archive du document est illisible.") from error
    if declarations:
        raise UnsafeDocument(XML_DECLARATIONS)
    return archive


# "<!ENTITY" as an XML part may spell it: UTF-8 (or any ASCII-compatible encoding), UTF-16 either way.
_ENTITY_MARKERS = tuple("<!ENTITY".encode(encoding) for encoding in ("utf-8", "utf-16-le", "utf-16-be"))
_ENTITY_MARKER_BYTES = max(len(marker) for marker in _ENTITY_MARKERS)


def _zip_kind(data: bytes) -> str:
    archive = _open_zip(data)
    names = set(archive.namelist())
    if "mimetype" in names:
        try:
            mimetype = archive.read("mimetype")[:100].decode("ascii", "replace").strip()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
            raise UnreadableDocument("Le fichier est endommagé : l'archive du document est illisible.") from error
        if mimetype in ODT_MIMETYPES:
            return "odt"
    if "[Content_Types].xml" in names and "word/document.xml" in names:
        return "docx"
    # A spreadsheet, a presentation, a plain archive...
    raise UnreadableDocument(UNSUPPORTED)


def _capped(paragraphs, max_chars: int) -> list[str]:
    """Paragraphs taken in order until `max_chars` characters are gathered."""
    kept, total = [], 0
    for paragraph in paragraphs:
        if total > max_chars:
            break
        kept.append(paragraph)
        total += len(paragraph) + 2
    return kept


# --- PDF ------------------------------------------------------------------------------------------------------

# Ligatures some PDF producers emit as single characters.
_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
                            "\ufb05": "st", "\ufb06": "st"})
# Running footers and headers that carry only a page number: "12", "- 3 -", "Page 2 sur 10", "2/10".
_PAGE_NUMBER = re.compile(r"^[\s\-–—]*(?:page\s*)?\d{1,4}(?:\s*(?:/|sur|of)\s*\d{1,4})?[\s\-–—]*$", re.IGNORECASE)
# A line that opens a list item or a numbered heading starts a new paragraph.
_ITEM_START = re.compile(
    r"^(?:[-–—•▪◦●■*>]\s|\d{1,2}[.)]\s|\d{1,2}(?:\.\d{1,2})+\.?\s|[a-z][.)]\s|(?:article|chapitre)\s+\d)",
    re.IGNORECASE)
_TERMINAL = ".:;!?»)"
# A line shorter than this share of the page's longest line ends its paragraph (or is a heading).
SHORT_LINE_SHARE = 0.7


def _pdf_paragraphs(data: bytes, max_chars: int) -> list[str]:
    from pypdf import PasswordType, PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        # Many PDFs are encrypted with an empty password only to restrict printing or copying: those open.
        if reader.is_encrypted and _decrypt_with_empty_password(reader) == PasswordType.NOT_DECRYPTED:
            raise UnreadableDocument(PROTECTED_PDF)
        pages = reader.pages
        if not len(pages):
            raise UnreadableDocument("Ce PDF ne contient aucune page.")
        page_count = min(len(pages), MAX_PDF_PAGES)
        paragraphs: list[str] = []
        total = pages_read = 0
        for index in range(page_count):
            page_paragraphs = _page_paragraphs(pages[index].extract_text() or "")
            pages_read += 1
            if paragraphs and page_paragraphs and _continues(paragraphs[-1], page_paragraphs[0]):
                paragraphs[-1] = _join_lines([paragraphs[-1], page_paragraphs.pop(0)])
            paragraphs.extend(page_paragraphs)
            total += sum(len(p) + 2 for p in page_paragraphs)
            if total > max_chars:
                break
    except (UnreadableDocument, MemoryError):
        raise
    except Exception as error:  # pypdf raises many kinds of errors on damaged or crafted files
        raise UnreadableDocument("Ce PDF est endommagé : il n'a pas pu être lu.") from error
    letters = sum(ch.isalpha() for p in paragraphs for ch in p)
    if letters < MIN_LETTERS_PER_PDF_PAGE * max(pages_read, 1):
        raise UnreadableDocument(SCANNED)
    return paragraphs


def check_pdf_passive(data: bytes) -> None:
    """Raise UnsafeDocument when the PDF holds active content (PDF_ACTIVE_KEYS, PDF_ACTIVE_ACTIONS), found in its
    raw bytes, in its object streams (decoded here whatever their filter is called, else by pypdf) or, escaped
    names included, in the objects pypdf reads; or when part of it cannot be checked: an object stream neither this
    module nor pypdf can decode, or whose objects cannot be found; an object pypdf cannot read in a file it opened;
    a password it cannot open. A file pypdf cannot open at all (no cross-reference table: readers rebuild one from
    the objects' headers) is judged on the names of all its dictionaries, outside stream data; reading it then
    fails elsewhere if it must."""
    names = {_pdf_name(raw) for raw in re.findall(rb"/[A-Za-z0-9#]{5,}", data)}
    if names & PDF_RAW_ACTIVE_NAMES:
        raise UnsafeDocument(ACTIVE_PDF)
    budget = [MAX_PDF_OBJECT_STREAM_BYTES]  # decoded object-stream bytes left to check
    undecoded = _scan_object_streams(data, budget)
    from pypdf import PasswordType, PdfReader
    from pypdf.generic import IndirectObject, StreamObject

    try:
        reader = PdfReader(io.BytesIO(data))
    except MemoryError:
        raise
    except Exception as error:  # pypdf raises many kinds of errors on damaged or crafted files
        if undecoded:
            raise UnsafeDocument(UNCHECKABLE_PDF) from error
        if _has_active_name(_without_stream_data(data)):
            raise UnsafeDocument(ACTIVE_PDF) from error
        return
    try:
        if reader.is_encrypted and _decrypt_with_empty_password(reader) == PasswordType.NOT_DECRYPTED:
            raise UnsafeDocument(PROTECTED_PDF)  # its objects cannot be read, so cannot be checked
        if _active_objects(reader.trailer):
            raise UnsafeDocument(ACTIVE_PDF)
        # The object streams this module could not decode (a filter or a predictor it does not know), by pypdf.
        for (number, generation), dictionary in undecoded:
            stream = IndirectObject(number, generation, reader).get_object()
            if not isinstance(stream, StreamObject):
                raise UnsafeDocument(UNCHECKABLE_PDF)
            _check_object_stream(dictionary, stream.get_data(), budget)
    except (UnsafeDocument, MemoryError):
        raise
    except Exception as error:  # an object pypdf cannot read (a filter it refuses, a damaged stream...)
        raise UnsafeDocument(UNCHECKABLE_PDF) from error


# A stream's "stream" keyword (not "endstream"), after its dictionary, then its end of line.
_PDF_STREAM_KEYWORD = re.compile(rb"(?<=[\x00\t\n\x0c\r >])stream(?:\r\n|\n|\r)")
# An object's header ("12 0 obj": number and generation) or a stream keyword.
_PDF_OBJECT_OR_STREAM = re.compile(rb"(?<![0-9])(\d{1,10})[\x00\t\n\x0c\r ]+(\d{1,5})[\x00\t\n\x0c\r ]+obj"
                                   rb"|" + _PDF_STREAM_KEYWORD.pattern)
_PDF_ANY_NAME = re.compile(rb"/[^\x00\t\n\x0c\r ()<>\[\]{}/%]*")
_PDF_FILTER = re.compile(rb"/Filter[\x00\t\n\x0c\r ]*(\[[^\]]*\]|/[^\x00\t\n\x0c\r ()<>\[\]{}/%]*|\d)")
_PDF_OBJECT_COUNT = re.compile(rb"/N[\x00\t\n\x0c\r ]+(\d{1,7})(?![\d.])")
_PDF_FIRST_OFFSET = re.compile(rb"/First[\x00\t\n\x0c\r ]+(\d{1,10})(?![\d.])")
_PDF_LENGTH = re.compile(rb"/Length[\x00\t\n\x0c\r ]+(\d{1,10})(?!\d)(?![\x00\t\n\x0c\r ]+\d+[\x00\t\n\x0c\r ]+R)")
# Abbreviated filter names (ISO 32000 reserves them to inline images; readers honour them anywhere).
_PDF_FILTER_ABBREVIATIONS = {"/Fl": "/FlateDecode", "/AHx": "/ASCIIHexDecode", "/A85": "/ASCII85Decode",
                             "/LZW": "/LZWDecode", "/RL": "/RunLengthDecode"}
# Any active name, whole (what follows it is a delimiter, white space or the end, not more of the name).
_PDF_ACTIVE_NAME = re.compile(b"(?:" + b"|".join(re.escape(name.encode()) for name in sorted(
    PDF_ACTIVE_KEYS | PDF_ACTIVE_ACTIONS, key=len, reverse=True)) + rb")(?![^\x00\t\n\x0c\r ()<>\[\]{}/%])")


def _scan_object_streams(data: bytes, budget: list[int]) -> list[tuple[tuple[int, int], bytes]]:
    """Check each object stream found in the raw bytes that this module can decode (Flate, ASCIIHex, ASCII85, their
    names abbreviated or not, in any order; see _check_object_stream). The others (another filter, a predictor, an
    indirect filter, damaged data) are returned, (number, generation) and dictionary, for pypdf to decode. One pass
    over the bytes: each "stream" keyword is paired with the object header before it, its dictionary between."""
    undecoded: list[tuple[tuple[int, int], bytes]] = []
    streams, header, since = 0, None, 0
    for token in _PDF_OBJECT_OR_STREAM.finditer(data):
        if token.group(1) is not None:
            header = token
            continue
        # The dictionary: from the object's header, or, when none was recognised (a comment inside it, say), from
        # the previous keyword; its last MAX_PDF_DICTIONARY_BYTES at most.
        begin = max(header.end() if header else since, token.start() - MAX_PDF_DICTIONARY_BYTES)
        reference = (int(header[1]), int(header[2])) if header else None
        dictionary, header, since = data[begin:token.start()], None, token.end()
        if b"#" in dictionary:
            dictionary = re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), dictionary)
        if b"/ObjStm" not in dictionary and b"/First" not in dictionary:
            continue  # page contents, images, fonts: no dictionary a reader acts on lives there
        streams += 1
        if streams > MAX_PDF_OBJECT_STREAMS:
            raise UnsafeDocument(UNCHECKABLE_PDF)
        decoded = _decode_object_stream(dictionary, data, token.end(), budget[0])
        if decoded is not None:
            _check_object_stream(dictionary, decoded, budget)
        elif reference is None:  # neither decodable here nor to be found by pypdf
            raise UnsafeDocument(UNCHECKABLE_PDF)
        else:
            undecoded.append((reference, dictionary))
    return undecoded


def _check_object_stream(dictionary: bytes, decoded: bytes, budget: list[int]) -> None:
    """Raise UnsafeDocument when a decoded object stream names active content, or when its objects cannot be
    found (its header of /N object numbers and offsets, its /First offset: pypdf then ignores the stream, which
    another reader may still read); past the budget of MAX_PDF_OBJECT_STREAM_BYTES."""
    budget[0] -= len(decoded)
    if budget[0] < 0:
        raise UnsafeDocument(UNCHECKABLE_PDF)
    if _has_active_name(decoded):
        raise UnsafeDocument(ACTIVE_PDF)
    count, first = _PDF_OBJECT_COUNT.search(dictionary), _PDF_FIRST_OFFSET.search(dictionary)
    if count is None or first is None or int(first.group(1)) > len(decoded):
        raise UnsafeDocument(UNCHECKABLE_PDF)
    header = decoded[:int(first.group(1))].split()
    numbers = header[:2 * int(count.group(1))]
    if len(numbers) < 2 * int(count.group(1)) or not all(number.isdigit() for number in numbers):
        raise UnsafeDocument(UNCHECKABLE_PDF)


def _decode_object_stream(dictionary: bytes, data: bytes, start: int, budget: int) -> bytes | None:
    """The object stream's decoded bytes, or None when this module cannot decode it; UnsafeDocument past the
    budget (what remains of MAX_PDF_OBJECT_STREAM_BYTES)."""
    if b"/DecodeParms" in dictionary or b"/DP" in dictionary:
        return None  # a predictor: left to pypdf
    found = _PDF_FILTER.search(dictionary)
    if found and found.group(1)[:1].isdigit():
        return None  # an indirect filter: left to pypdf
    filters = [_PDF_FILTER_ABBREVIATIONS.get(name, name)
               for name in (raw.decode("latin-1") for raw in _PDF_ANY_NAME.findall(found.group(1) if found else b""))]
    length = _PDF_LENGTH.search(dictionary)
    end = -1
    if length:  # a direct /Length that lands on "endstream"
        candidate = start + int(length.group(1))
        if data[candidate:candidate + 12].lstrip(b"\r\n").startswith(b"endstream"):
            end = candidate
    if end < 0:
        end = data.find(b"endstream", start)
    decoded = data[start:end if end >= 0 else len(data)]
    for name in filters:
        try:
            if name == "/FlateDecode":
                inflater = zlib.decompressobj()
                output = inflater.decompress(decoded, budget + 1)
                if len(output) > budget:
                    raise UnsafeDocument(UNCHECKABLE_PDF)
                if not inflater.eof:  # damaged or cut short
                    return None
                decoded = output
            elif name == "/ASCIIHexDecode":
                digits = re.sub(rb"[\x00\t\n\x0c\r ]", b"", decoded.split(b">", 1)[0])
                decoded = bytes.fromhex((digits + b"0" * (len(digits) % 2)).decode("ascii"))
            elif name == "/ASCII85Decode":
                body = decoded.split(b"~>", 1)[0].strip()
                decoded = base64.a85decode(body[2:] if body.startswith(b"<~") else body,
                                           ignorechars=b"\x00\t\n\x0c\r ")
            else:
                return None  # another filter: left to pypdf
        except (ValueError, zlib.error):
            return None
    if len(decoded) > budget:
        raise UnsafeDocument(UNCHECKABLE_PDF)
    return decoded


def _without_stream_data(data: bytes) -> bytes:
    """The PDF's bytes without the data of its streams: its objects' syntax, dictionaries included, where even the
    short active names cannot appear by chance as they do in binary data."""
    kept, position = [], 0
    for keyword in _PDF_STREAM_KEYWORD.finditer(data):
        if keyword.start() < position:
            continue  # inside the data of a stream already cut
        kept.append(data[position:keyword.start()])
        end = data.find(b"endstream", keyword.end())
        position = len(data) if end < 0 else end
    kept.append(data[position:])
    return b" ".join(kept)


def _has_active_name(decoded: bytes) -> bool:
    """Whether PDF syntax without binary data (an object stream's dictionaries, a file's without its streams' data,
    where the short names count) names active content. One regular-expression search (32 MB of dense dictionaries
    in a tenth of a second), after the #xx escapes are decoded: an escape elsewhere than in a name can only add a
    refusal."""
    if b"#" in decoded:
        decoded = re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), decoded)
    return _PDF_ACTIVE_NAME.search(decoded) is not None


def _pdf_name(raw: bytes) -> str:
    """A PDF name with its #xx escapes decoded (/J#61vaScript is /JavaScript)."""
    return re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), raw).decode("latin-1")


def _active_objects(root) -> bool:
    """Whether any object reachable from `root` is active content; past MAX_PDF_OBJECTS objects, a file too
    tangled to check counts as active."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

    seen: set[tuple[int, int]] = set()
    stack, visited = [root], 0
    while stack:
        item = stack.pop()
        if isinstance(item, IndirectObject):
            if (item.idnum, item.generation) in seen:
                continue
            seen.add((item.idnum, item.generation))
            item = item.get_object()
        visited += 1
        if visited > MAX_PDF_OBJECTS:
            return True
        if isinstance(item, DictionaryObject):
            action = item.get("/S")
            action = action.get_object() if isinstance(action, IndirectObject) else action
            if PDF_ACTIVE_KEYS.intersection(item.keys()) or action in PDF_ACTIVE_ACTIONS:
                return True
            stack.extend(item.values())
        elif isinstance(item, ArrayObject):
            stack.extend(item)
    return False


def _decrypt_with_empty_password(reader):
    from pypdf import PasswordType

    try:
        return reader.decrypt("")
    except Exception:  # noqa: BLE001 - an unknown or unsupported encryption is as closed as a password
        return PasswordType.NOT_DECRYPTED


def _page_paragraphs(page_text: str) -> list[str]:
    """One page's extracted lines regrouped into paragraphs: a blank line, a short line, or a list item or
    numbered heading starts a new one; page-number lines are dropped."""
    lines = [" ".join(line.translate(_LIGATURES).split()) for line in page_text.splitlines()]
    lines = [line if not _PAGE_NUMBER.match(line) else "" for line in lines]
    width = max((len(line) for line in lines), default=0)
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        current = paragraphs[-1]
        if not line:
            if current:
                paragraphs.append([])
            continue
        if current:
            previous = current[-1]
            short = len(previous) < SHORT_LINE_SHARE * width
            if _ITEM_START.match(line) or (short and (line[0].isupper() or previous.endswith(tuple(_TERMINAL)))):
                paragraphs.append([])
        paragraphs[-1].append(line)
    return [_join_lines(p) for p in paragraphs if p]


def _join_lines(lines: list[str]) -> str:
    """Lines of one paragraph joined by spaces; a word cut by a hyphen at a line end is mended."""
    text = lines[0]
    for line in lines[1:]:
        if len(text) > 1 and text[-1] in "-\u00ad" and text[-2].isalpha() and line[:1].islower():
            text = text[:-1] + line
        else:
            text = f"{text} {line}"
    return text


def _continues(previous: str, following: str) -> bool:
    """Whether a page's first paragraph continues the previous page's last one (a sentence cut by a page break)."""
    return not previous.endswith(tuple(_TERMINAL)) and following[:1].islower()


# --- DOCX and ODT: their text part read as a stream ---------------------------------------------------------

class _XmlText:
    """The paragraphs of an XML text part, gathered from the parser's events in document order (a paragraph by
    its start: a text box's paragraphs come after the one holding them). Subclasses say what is a paragraph and
    what inside one is text."""

    def __init__(self) -> None:
        self.slots: list[str | None] = []  # paragraph texts, by start; None while a paragraph is open
        self.open: list[tuple[int, list[str]]] = []  # open paragraphs (nested in text boxes): slot, text so far
        self.chars = 0  # characters gathered: reading stops past max_chars
        self.depth = 0
        self.elements = 0

    def element_start(self, name: str, attributes: dict[str, str]) -> None:
        self.depth += 1
        self.elements += 1
        if self.depth > MAX_XML_DEPTH:
            raise UnreadableDocument(XML_TOO_DEEP)
        if self.elements > MAX_XML_ELEMENTS:
            raise UnreadableDocument(XML_TOO_MANY)
        self.start(name, attributes)

    def element_end(self, name: str) -> None:
        self.depth -= 1
        self.end(name)

    def start(self, name: str, attributes: dict[str, str]) -> None:
        raise NotImplementedError

    def end(self, name: str) -> None:
        raise NotImplementedError

    def text(self, data: str) -> None:
        raise NotImplementedError

    def start_paragraph(self) -> None:
        self.open.append((len(self.slots), []))
        self.slots.append(None)

    def end_paragraph(self) -> None:
        slot, parts = self.open.pop()
        text = self.slots[slot] = "".join(parts).strip()
        if text:
            self.chars += 2  # the blank line after it

    def add(self, text: str) -> None:
        if self.open:
            self.open[-1][1].append(text)
            self.chars += len(text)

    def paragraphs(self) -> list[str]:
        """The paragraphs read, those still open when reading stopped included, empty ones left out."""
        while self.open:
            self.end_paragraph()
        return [text for text in self.slots if text]


def _read_xml_part(data: bytes, part_name: str, reader: _XmlText, max_chars: int, kind: str) -> list[str]:
    """Feed one part of the archive to the streaming parser, chunk by chunk, until its end or until `max_chars`
    characters are gathered. Refused before parsing beyond MAX_XML_PART_BYTES; a DTD or entity declaration, depth
    beyond MAX_XML_DEPTH or more than MAX_XML_ELEMENTS elements refuse it while parsing."""
    damaged = f"Ce document {kind} est endommagé : il n'a pas pu être lu."
    try:  # detect_kind has opened the archive and passed its zip-bomb guard
        archive = zipfile.ZipFile(io.BytesIO(data))
        info = archive.getinfo(part_name)
    except (KeyError, zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise UnreadableDocument(damaged) from error
    if info.file_size > MAX_XML_PART_BYTES:  # zipfile never inflates past the declared size
        raise UnreadableDocument(XML_TOO_LARGE)
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True  # one text event per run of characters, not one per line
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse_declarations(*args) -> int:  # also expat's external-entity handler, which returns a status
        raise UnsafeDocument(XML_DECLARATIONS)

    parser.StartDoctypeDeclHandler = refuse_declarations
    parser.EntityDeclHandler = refuse_declarations
    parser.ExternalEntityRefHandler = refuse_declarations
    parser.StartElementHandler = reader.element_start
    parser.EndElementHandler = reader.element_end
    parser.CharacterDataHandler = reader.text
    try:
        with archive.open(info) as part:
            while reader.chars <= max_chars:
                chunk = part.read(XML_CHUNK_BYTES)
                parser.Parse(chunk, not chunk)
                if not chunk:
                    break
    except (UnreadableDocument, MemoryError):
        raise
    except (expat.ExpatError, zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError) as error:
        raise UnreadableDocument(damaged) from error
    return reader.paragraphs()


_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main "
_W_P, _W_R, _W_T, _W_BR = _W + "p", _W + "r", _W + "t", _W + "br"
# Run children and their text, as python-docx reads them (a page or column break is no text).
_W_RUN_TEXT = {_W + "tab": "\t", _W + "ptab": "\t", _W + "cr": "\n", _W + "noBreakHyphen": "-"}
# Not read, with all they hold: the legacy copy of a text box already read from its modern form (mc:Fallback),
# text moved elsewhere or deleted by tracked changes (whose own text is w:delText, not w:t).
_W_SKIPPED = frozenset({"http://schemas.openxmlformats.org/markup-compatibility/2006 Fallback", _W + "moveFrom",
                        _W + "del"})


class _DocxText(_XmlText):
    """word/document.xml: a paragraph per w:p (body, table cells, text boxes, content controls); its text the w:t,
    tabs and line breaks of its runs, inserted text of tracked changes and hyperlinks included."""

    def __init__(self) -> None:
        super().__init__()
        self.parents: list[str] = []
        self.skipping = 0  # depth inside a skipped element
        self.in_text = False

    def start(self, name: str, attributes: dict[str, str]) -> None:
        parent = self.parents[-1] if self.parents else ""
        self.parents.append(name)
        if self.skipping or name in _W_SKIPPED:
            self.skipping += 1
        elif name == _W_P:
            self.start_paragraph()
        elif parent == _W_R:
            if name == _W_T:
                self.in_text = True
            elif name == _W_BR:
                if attributes.get(_W + "type", "textWrapping") == "textWrapping":
                    self.add("\n")
            elif name in _W_RUN_TEXT:
                self.add(_W_RUN_TEXT[name])

    def end(self, name: str) -> None:
        self.parents.pop()
        if self.skipping:
            self.skipping -= 1
        elif name == _W_P:
            self.end_paragraph()
        elif name == _W_T:
            self.in_text = False

    def text(self, data: str) -> None:
        if self.in_text:
            self.add(data)


def _docx_paragraphs(data: bytes, max_chars: int) -> list[str]:
    texts: list[str] = []
    for text in _read_xml_part(data, "word/document.xml", _DocxText(), max_chars, "Word"):
        if not texts or texts[-1] != text:  # merged table cells repeat their paragraph
            texts.append(text)
    return _capped(texts, max_chars)


_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0 "
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0 "
_ODT_PARAGRAPHS = frozenset({_TEXT + "p", _TEXT + "h"})
# Elements standing for text (a run of spaces counts as one: the text is cleaned afterwards).
_ODT_TEXT_ELEMENTS = {_TEXT + "s": " ", _TEXT + "tab": "\t", _TEXT + "line-break": "\n"}
# Not read, with all they hold: the deleted text of tracked changes, comments (their author and date too).
_ODT_SKIPPED = frozenset({_TEXT + "tracked-changes", _OFFICE + "annotation"})
# Line ends and tabs in an ODF paragraph's characters are spaces (ODF 1.2, 6.1.2, white space characters).
_ODF_WHITESPACE = str.maketrans("\t\r\n", "   ")


class _OdtText(_XmlText):
    """content.xml: a paragraph per text:p or text:h of office:text (body, tables, lists, sections, frames); one
    nested in another (a frame, a note) is read inside it, as odfpy's teletype did."""

    def __init__(self) -> None:
        super().__init__()
        self.in_body = False
        self.skipping = 0
        self.nesting = 0  # text:p and text:h open

    def start(self, name: str, attributes: dict[str, str]) -> None:
        if self.skipping:
            self.skipping += 1
        elif name == _OFFICE + "text":
            self.in_body = True
        elif not self.in_body:
            return
        elif name in _ODT_SKIPPED:
            self.skipping = 1
        elif name in _ODT_PARAGRAPHS:
            if self.nesting:
                self.add(" ")
            else:
                self.start_paragraph()
            self.nesting += 1
        elif name in _ODT_TEXT_ELEMENTS:
            self.add(_ODT_TEXT_ELEMENTS[name])

    def end(self, name: str) -> None:
        if self.skipping:
            self.skipping -= 1
        elif name == _OFFICE + "text":
            self.in_body = False
        elif self.in_body and name in _ODT_PARAGRAPHS:
            self.nesting -= 1
            if self.nesting:
                self.add(" ")
            else:
                self.end_paragraph()

    def text(self, data: str) -> None:
        if self.nesting and not self.skipping:
            self.add(data.translate(_ODF_WHITESPACE))


def _odt_paragraphs(data: bytes, max_chars: int) -> list[str]:
    return _capped(_read_xml_part(data, "content.xml", _OdtText(), max_chars, "OpenDocument"), max_chars)


# --- Plain text -----------------------------------------------------------------------------------------------

_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_NAME_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def _decode_text(data: bytes) -> str | None:
    """UTF-8 (with or without BOM), UTF-16 with a BOM, else Windows-1252; None for a binary file."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    elif b"\x00" in data:
        return None
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
    controls = len(_CONTROLS.findall(text))
    return text if controls <= MAX_CONTROL_SHARE * len(text) else None


def _text_paragraphs(data: bytes, max_chars: int) -> list[str]:
    text = _decode_text(data) or ""
    paragraphs = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _capped(paragraphs, max_chars)


# --- The bounded child process ----------------------------------------------------------------------------------

_EXTRACTION_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT_EXTRACTIONS)
# The child's first statement: this process's import path (its arguments), so that it imports this very module,
# installed or from a checkout, as multiprocessing's spawn would; then its work.
_CHILD_PROGRAM = "import sys; sys.path[:] = sys.argv[1:]; from vivier.textfiles import _child_main; _child_main()"


def _read_in_child(filename: str, data: bytes, max_chars: int) -> str:
    """`read_text` run by a new Python process (not a fork of this one, which holds the model and the index), the
    request as one JSON line then the document on its standard input, the answer as JSON on its standard output
    (never pickle: the child parses hostile files). The child limits its own address space and CPU time; past
    EXTRACTION_TIMEOUT_S it is killed."""
    request = json.dumps({"filename": filename, "max_chars": max_chars, "memory_bytes": EXTRACTION_MEMORY_BYTES,
                          "cpu_seconds": math.ceil(EXTRACTION_TIMEOUT_S) + 1}).encode() + b"\n"
    command = [sys.executable, "-c", _CHILD_PROGRAM, *(entry for entry in sys.path if isinstance(entry, str))]
    try:
        # subprocess.run kills the child on timeout and waits for it: no process is left behind.
        done = subprocess.run(command, input=request + data, capture_output=True, timeout=EXTRACTION_TIMEOUT_S,
                              check=False)
    except subprocess.TimeoutExpired:
        logger.warning("document extraction killed after %s s", EXTRACTION_TIMEOUT_S)
        raise UnreadableDocument(TOO_COMPLEX) from None
    except OSError as error:  # no process could be started (out of processes or memory)
        logger.error("document extraction could not start: %s", error)
        raise UnreadableDocument(UNAVAILABLE) from None
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        answer = None
    if done.returncode != 0 or not isinstance(answer, dict):
        # Killed by its CPU limit or a signal, or out of memory where even the answer could not be written. Only
        # the exception's name is logged, from the last line of its traceback: its message might quote the document.
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        logger.warning("document extraction failed (exit status %s): %s", done.returncode,
                       lines[-1].split(":", 1)[0][:100] if lines else "no message")
        raise UnreadableDocument(TOO_COMPLEX)
    if isinstance(answer.get("text"), str):
        return answer["text"]
    error_class = UnsafeDocument if answer.get("unsafe") else UnreadableDocument
    raise error_class(str(answer.get("message") or TOO_COMPLEX))


def _limit_resources(memory_bytes: int, cpu_seconds: int) -> None:
    """The child's limits: address space, CPU time (a backstop should its parent die and never kill it), and neither
    core dumps nor files written (an uploaded document never touches the disk)."""
    try:
        import resource
    except ImportError:  # not POSIX: the parent's wall-clock limit still applies
        return
    for limit, value in ((resource.RLIMIT_AS, memory_bytes), (resource.RLIMIT_CPU, cpu_seconds),
                         (resource.RLIMIT_CORE, 0), (resource.RLIMIT_FSIZE, 0)):
        hard = resource.getrlimit(limit)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(limit, (value, value))


def _child_main() -> None:
    """The child process's work (see _read_in_child)."""
    stdin = sys.stdin.buffer
    request = json.loads(stdin.readline(64 * 1024))
    _limit_resources(int(request["memory_bytes"]), int(request["cpu_seconds"]))
    # pypdf warns through logging about every oddity of a crafted file: nothing of it is wanted on standard error.
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    data = stdin.read(MAX_UPLOAD_BYTES + 1)
    answer: dict[str, object]
    try:
        answer = {"text": read_text(str(request["filename"]), data, int(request["max_chars"]))}
    except UnsafeDocument as error:
        answer = {"unsafe": True, "message": error.message}
    except UnreadableDocument as error:
        answer = {"message": error.message}
    except MemoryError:
        answer = {"message": TOO_COMPLEX}
    sys.stdout.buffer.write(json.dumps(answer).encode())
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    _child_main()
