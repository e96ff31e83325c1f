"""Plain text from an uploaded specification (PDF, DOCX, ODT or plain text), to search with it.

Pure: bytes in, text out, nothing written to disk. The type is read from the content (magic bytes); the file name
only words the error messages. Every failure raises `UnreadableDocument` with a French message for the buyer;
`UnsafeDocument` when a file of an accepted type is refused for what it could do once opened (a PDF with scripts,
a web page with a PDF header, a hand-made file name), which the project attachments refuse too.
"""

from __future__ import annotations

import io
import re
import zipfile

from vivier.text import clean_text

# A 100-page specification with a few pictures weighs 1-5 MB; beyond 10 MB it is mostly images, not text.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# Pages read at most (~20 ms each with pypdf): bounds the time; the character cap is usually reached first.
MAX_PDF_PAGES = 200
# About 40 pages of text: far more than a need needs; the search itself reads only its query_max_chars.
MAX_TEXT_CHARS = 100_000
# Zip-bomb guard: a DOCX or ODT whose parts would decompress to more than this is refused before parsing (the
# parsers load every part in memory). Real 200-page documents with pictures stay well under 30 MB.
MAX_UNCOMPRESSED_BYTES = 64 * 1024 * 1024
# A text document holds a few dozen parts; thousands are a crafted file.
MAX_ZIP_ENTRIES = 2_000
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


class UnreadableDocument(ValueError):
    """A document that cannot be turned into text; `message` is French, for the buyer."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UnsafeDocument(UnreadableDocument):
    """A document of an accepted type refused for what it could do: active PDF content, a web page carrying a PDF
    header, a hand-made file name."""


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
    (reading stops once they are gathered)."""
    if not data:
        raise UnreadableDocument("Le fichier est vide.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UnreadableDocument(f"Le fichier dépasse la taille maximale de {MAX_UPLOAD_BYTES // (1024 * 1024)} Mo.")
    kind = detect_kind(filename, data)
    readers = {"pdf": _pdf_paragraphs, "docx": _docx_paragraphs, "odt": _odt_paragraphs, "txt": _text_paragraphs}
    text = clean_text("\n\n".join(readers[kind](data, max_chars)))
    if not text:
        raise UnreadableDocument("Ce document ne contient pas de texte.")
    return text[:max_chars]


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
    # read through once, so a lying archive is refused here rather than stored or handed to a parser.
    try:
        for entry in entries:
            with archive.open(entry) as part:
                while part.read(1024 * 1024):
                    pass
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as error:
        raise UnreadableDocument("Le fichier est endommagé : l'archive du document est illisible.") from error
    return archive


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
    except UnreadableDocument:
        raise
    except Exception as error:  # pypdf raises many kinds of errors on damaged or crafted files
        raise UnreadableDocument("Ce PDF est endommagé : il n'a pas pu être lu.") from error
    letters = sum(ch.isalpha() for p in paragraphs for ch in p)
    if letters < MIN_LETTERS_PER_PDF_PAGE * max(pages_read, 1):
        raise UnreadableDocument(SCANNED)
    return paragraphs


def check_pdf_passive(data: bytes) -> None:
    """Raise UnsafeDocument when the PDF holds active content (PDF_ACTIVE_KEYS, PDF_ACTIVE_ACTIONS), found in its
    raw bytes or, compressed object streams and escaped names included, in the objects pypdf reads. A PDF pypdf
    cannot open or decrypt is judged on its raw bytes alone (reading it then fails elsewhere if it must)."""
    names = {_pdf_name(raw) for raw in re.findall(rb"/[A-Za-z0-9#]{5,}", data)}
    if names & PDF_RAW_ACTIVE_NAMES:
        raise UnsafeDocument(ACTIVE_PDF)
    from pypdf import PasswordType, PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and _decrypt_with_empty_password(reader) == PasswordType.NOT_DECRYPTED:
            return
        active = _active_objects(reader.trailer)
    except Exception:  # noqa: BLE001 - pypdf raises many kinds of errors on damaged or crafted files
        return
    if active:
        raise UnsafeDocument(ACTIVE_PDF)


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


# --- DOCX -----------------------------------------------------------------------------------------------------

def _docx_paragraphs(data: bytes, max_chars: int) -> list[str]:
    import docx
    from docx.text.paragraph import Paragraph

    try:  # detect_kind has opened the archive and passed its zip-bomb guard
        document = docx.Document(io.BytesIO(data))
        body = document.element.body
        fallback = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
        texts: list[str] = []
        # Every w:p in document order: body paragraphs, table cells, text boxes and content controls alike.
        for element in body.iter("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}p"):
            if any(ancestor.tag == fallback for ancestor in element.iterancestors()):
                continue  # the legacy copy of a text box already read from its modern form
            text = Paragraph(element, document).text.strip()
            if text and (not texts or texts[-1] != text):  # merged table cells repeat their paragraph
                texts.append(text)
    except Exception as error:  # python-docx and lxml fail in many ways on damaged files
        raise UnreadableDocument("Ce document Word est endommagé : il n'a pas pu être lu.") from error
    return _capped(texts, max_chars)


# --- ODT ------------------------------------------------------------------------------------------------------

def _odt_paragraphs(data: bytes, max_chars: int) -> list[str]:
    from odf import teletype
    from odf.namespaces import TEXTNS
    from odf.opendocument import load

    try:  # detect_kind has opened the archive and passed its zip-bomb guard
        document = load(io.BytesIO(data))
        texts: list[str] = []

        def visit(node) -> None:
            for child in node.childNodes:
                if child.nodeType != child.ELEMENT_NODE:
                    continue
                if child.qname in ((TEXTNS, "p"), (TEXTNS, "h")):
                    text = teletype.extractText(child).strip()
                    if text:
                        texts.append(text)
                elif child.qname != (TEXTNS, "tracked-changes"):  # deleted text of tracked changes is not the text
                    visit(child)

        visit(document.text)
    except Exception as error:  # odfpy and the XML parser fail in many ways on damaged files
        raise UnreadableDocument("Ce document OpenDocument est endommagé : il n'a pas pu être lu.") from error
    return _capped(texts, max_chars)


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
