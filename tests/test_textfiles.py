"""Text extraction from uploaded specifications, on real documents written here with the libraries that make them:
fpdf2 (PDF with a text layer), pypdf (encryption), python-docx (DOCX), odfpy (ODT)."""

from __future__ import annotations

import io
import zipfile

import docx
import pytest
from fpdf import FPDF
from odf.opendocument import OpenDocumentSpreadsheet, OpenDocumentText
from odf.table import Table, TableCell, TableColumn, TableRow
from odf.text import H, List, ListItem, P, S
from PIL import Image
from pypdf import PdfReader, PdfWriter

from vivier import textfiles
from vivier.textfiles import MAX_UPLOAD_BYTES, UnreadableDocument, detect_kind, extract_text, read_text

INTRO = ("La commune souhaite offrir aux familles un portail unique pour inscrire les enfants à la cantine scolaire, "
         "réserver ou annuler les repas jusqu'à la veille et régler les factures en ligne.")


def make_pdf(pages: list[list[str]]) -> bytes:
    """A PDF with a real text layer: each page a list of paragraphs, written by fpdf2 (Helvetica, Latin-1)."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for paragraphs in pages:
        pdf.add_page()
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    return bytes(pdf.output())


def make_docx(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    document = docx.Document()
    document.add_heading(paragraphs[0], level=1)
    for paragraph in paragraphs[1:]:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_odt(paragraphs: list[str]) -> bytes:
    document = OpenDocumentText()
    document.text.addElement(H(outlinelevel=1, text=paragraphs[0]))
    for paragraph in paragraphs[1:]:
        document.text.addElement(P(text=paragraph))
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def encrypted(pdf: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=user_password, owner_password="proprietaire", algorithm="AES-256")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def message_of(filename: str, data: bytes) -> str:
    with pytest.raises(UnreadableDocument) as caught:
        extract_text(filename, data)
    return caught.value.message


# --- PDF ------------------------------------------------------------------------------------------------------

def test_pdf_paragraphs_are_kept_and_line_end_hyphens_mended():
    data = make_pdf([
        ["Article 1 - Objet du marché", f"{INTRO} {INTRO}",
         "- inscription en ligne\n- réservation des repas",
         "Le prestataire assure le développe-\nment et la mainte-\nnance de la solution.",
         "Les repas se réservent jusqu'à la veille à\n10 heures, sur le portail.\n1. Inscription\n2. Paiement"],
        ["Page 2 sur 2", "Article 2 - Paiement", "Le paiement se fait par carte ou par prélèvement."],
    ])
    text = extract_text("cahier-des-charges.pdf", data)
    paragraphs = text.split("\n\n")
    assert paragraphs[0] == "Article 1 - Objet du marché"
    assert paragraphs[1] == f"{INTRO} {INTRO}"  # the wrapped lines of one paragraph joined by single spaces
    assert "- inscription en ligne" in paragraphs and "- réservation des repas" in paragraphs
    assert "Le prestataire assure le développement et la maintenance de la solution." in paragraphs
    assert "Les repas se réservent jusqu'à la veille à 10 heures, sur le portail." in paragraphs  # not a list item
    assert "1. Inscription" in paragraphs and "2. Paiement" in paragraphs
    assert "Page 2 sur 2" not in text  # running page numbers are dropped
    assert paragraphs[-2:] == ["Article 2 - Paiement", "Le paiement se fait par carte ou par prélèvement."]


def test_a_sentence_cut_by_a_page_break_is_one_paragraph():
    data = make_pdf([["Les familles réservent les repas de leurs enfants"],
                     ["depuis le portail ou une application mobile."]])
    assert extract_text("a.pdf", data) == ("Les familles réservent les repas de leurs enfants depuis le portail ou une "
                                           "application mobile.")


def test_pdf_encrypted_with_an_empty_password_is_read():
    """Many PDFs are encrypted only to forbid printing or copying: they open without a password."""
    data = encrypted(make_pdf([[INTRO]]), user_password="")
    assert PdfReader(io.BytesIO(data)).is_encrypted
    assert extract_text("restreint.pdf", data) == INTRO


def test_pdf_protected_by_a_password_is_refused():
    assert "protégé par un mot de passe" in message_of("secret.pdf", encrypted(make_pdf([[INTRO]]), "secret"))


def test_scanned_pdf_without_a_text_layer_is_refused():
    pdf = FPDF()
    for shade in (200, 120):
        pdf.add_page()
        pdf.image(Image.new("L", (400, 560), shade), x=10, y=10, w=190)
    message = message_of("scan.pdf", bytes(pdf.output()))
    assert "ce pdf ne contient pas de texte (document scanné ?)" in message.lower()


def test_pdf_with_only_page_numbers_counts_as_scanned():
    assert "document scanné" in message_of("scan.pdf", make_pdf([["1"], ["2"], ["Page 3 sur 3"]]))


@pytest.mark.parametrize("cut", [40, 300, -200])
def test_truncated_or_damaged_pdf_is_refused_with_a_message(cut):
    data = make_pdf([[INTRO]])
    assert "endommagé" in message_of("abime.pdf", data[:cut])


def test_reading_stops_after_the_page_limit(monkeypatch):
    """Read in this process (read_text): the limit patched here does not reach extract_text's child process."""
    monkeypatch.setattr(textfiles, "MAX_PDF_PAGES", 2)
    data = make_pdf([[f"Chapitre {n}. {INTRO}"] for n in (1, 2, 3, 4)])
    text = read_text("long.pdf", data)
    assert "Chapitre 2." in text and "Chapitre 3." not in text


# --- DOCX and ODT ---------------------------------------------------------------------------------------------

def test_docx_paragraphs_and_table_cells_in_document_order():
    data = make_docx(["Cahier des charges", INTRO, "Lots et prestations :"],
                     table=[["Lot 1", "Portail famille"], ["Lot 2", "Paiement en ligne\tPayFiP"]])
    assert extract_text("besoin.docx", data).split("\n\n") == [
        "Cahier des charges", INTRO, "Lots et prestations :", "Lot 1", "Portail famille", "Lot 2",
        "Paiement en ligne PayFiP"]


def test_docx_merged_cells_are_read_once():
    document = docx.Document()
    table = document.add_table(rows=1, cols=3)
    table.cell(0, 0).merge(table.cell(0, 2)).text = "Restauration scolaire"
    buffer = io.BytesIO()
    document.save(buffer)
    assert extract_text("fusion.docx", buffer.getvalue()) == "Restauration scolaire"


def test_odt_headings_paragraphs_spaces_lists_and_tables():
    document = OpenDocumentText()
    document.text.addElement(H(outlinelevel=1, text="Cahier des charges"))
    paragraph = P(text="Réservation")
    paragraph.addElement(S(c=4))
    paragraph.addText("des repas")
    document.text.addElement(paragraph)
    items = List()
    for entry in ("inscription à la cantine", "paiement en ligne"):
        item = ListItem()
        item.addElement(P(text=entry))
        items.addElement(item)
    document.text.addElement(items)
    table = Table(name="Lots")
    table.addElement(TableColumn(numbercolumnsrepeated=2))
    row = TableRow()
    for value in ("Lot 1", "Portail famille"):
        cell = TableCell()
        cell.addElement(P(text=value))
        row.addElement(cell)
    table.addElement(row)
    document.text.addElement(table)
    buffer = io.BytesIO()
    document.save(buffer)
    assert extract_text("besoin.odt", buffer.getvalue()).split("\n\n") == [
        "Cahier des charges", "Réservation des repas", "inscription à la cantine", "paiement en ligne", "Lot 1",
        "Portail famille"]


def docx_with_body(body: str) -> bytes:
    """A python-docx document whose body is the given WordprocessingML (namespaces of Word's own files declared)."""
    buffer = io.BytesIO()
    docx.Document().save(buffer)
    source, out = zipfile.ZipFile(buffer), io.BytesIO()
    namespaces = ('xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
                  'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
                  'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
                  'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
                  'xmlns:v="urn:schemas-microsoft-com:vml"')
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "word/document.xml":
                content = f'<w:document {namespaces}><w:body>{body}</w:body></w:document>'.encode()
            archive.writestr(info, content)
    return out.getvalue()


def test_docx_runs_breaks_hyperlinks_tracked_changes_and_text_boxes():
    text_box = '<w:p><w:r><w:t>Zone de texte</w:t></w:r></w:p>'
    data = docx_with_body(
        '<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr>'
        '<w:r><w:t xml:space="preserve">Le titulaire </w:t></w:r>'
        '<w:ins w:id="1" w:author="A"><w:r><w:t>livre</w:t></w:r></w:ins>'
        '<w:del w:id="2" w:author="A"><w:r><w:delText>supprime</w:delText></w:r></w:del>'
        '<w:r><w:t xml:space="preserve"> le portail</w:t><w:tab/><w:t>famille</w:t><w:br/><w:t>(lot</w:t>'
        '<w:noBreakHyphen/><w:t>1)</w:t><w:br w:type="page"/><w:instrText>PAGE</w:instrText></w:r></w:p>'
        '<w:p><w:hyperlink r:id="rId9"><w:r><w:t>Lien vers le règlement</w:t></w:r></w:hyperlink></w:p>'
        '<w:p><w:r><w:t>Avant</w:t></w:r><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><wps:txbx>'
        f'<w:txbxContent>{text_box}</w:txbxContent></wps:txbx></w:drawing></mc:Choice><mc:Fallback><w:pict>'
        f'<v:textbox><w:txbxContent>{text_box}</w:txbxContent></v:textbox></w:pict></mc:Fallback>'
        '</mc:AlternateContent></w:r><w:r><w:t xml:space="preserve"> après</w:t></w:r></w:p>')
    assert extract_text("besoin.docx", data).split("\n\n") == [
        "Le titulaire livre le portail famille (lot-1)", "Lien vers le règlement", "Avant après", "Zone de texte"]


def test_odt_notes_frames_comments_and_tracked_changes():
    from odf.draw import Frame, TextBox
    from odf.office import Annotation
    from odf.text import ChangedRegion, Deletion, Note, NoteBody, NoteCitation, Span, TrackedChanges

    document = OpenDocumentText()
    changes = TrackedChanges()
    region = ChangedRegion(id="ct1", check_grammar=False)  # odfpy asks for an xml:id it then refuses
    deletion = Deletion()
    deletion.addElement(P(text="Texte supprimé"))
    region.addElement(deletion)
    changes.addElement(region)
    document.text.addElement(changes)
    paragraph = P(text="Le portail")
    note = Note(noteclass="footnote", id="n1")
    note.addElement(NoteCitation(text="1"))
    body = NoteBody()
    body.addElement(P(text="Voir le règlement."))
    note.addElement(body)
    paragraph.addElement(note)
    comment = Annotation()
    comment.addElement(P(text="Commentaire de relecture"))
    paragraph.addElement(comment)
    paragraph.addElement(Span(text=" famille"))
    document.text.addElement(paragraph)
    framed = P(text="Légende :")
    frame = Frame(width="4cm", height="2cm", anchortype="as-char")
    box = TextBox()
    box.addElement(P(text="dans le cadre"))
    frame.addElement(box)
    framed.addElement(frame)
    document.text.addElement(framed)
    buffer = io.BytesIO()
    document.save(buffer)
    assert extract_text("besoin.odt", buffer.getvalue()).split("\n\n") == [
        "Le portail1 Voir le règlement. famille", "Légende : dans le cadre"]


def test_type_comes_from_the_content_not_the_name():
    assert detect_kind("besoin.txt", make_docx(["Titre", INTRO])) == "docx"
    assert detect_kind("besoin", make_odt(["Titre", INTRO])) == "odt"
    assert detect_kind("scan.docx", make_pdf([[INTRO]])) == "pdf"
    assert extract_text("besoin.txt", make_odt(["Titre", INTRO])) == f"Titre\n\n{INTRO}"


def test_zip_bomb_is_refused_before_it_is_inflated():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w") as part:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(textfiles.MAX_UNCOMPRESSED_BYTES // len(chunk) + 1):
                part.write(chunk)
    data = buffer.getvalue()
    assert len(data) < 200 * 1024  # small to upload...
    assert "trop volumineux une fois décompressé" in message_of("bombe.docx", data)  # ...refused all the same


def test_damaged_docx_is_refused_with_a_message():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types")
        archive.writestr("word/document.xml", "pas du XML")
    assert "endommagé" in message_of("abime.docx", buffer.getvalue())


def test_other_office_files_are_not_supported():
    spreadsheet = OpenDocumentSpreadsheet()
    buffer = io.BytesIO()
    spreadsheet.save(buffer)
    assert "n'est pas pris en charge" in message_of("budget.ods", buffer.getvalue())
    old_word = textfiles.OLE2_MAGIC + b"\0" * 600
    assert "(.doc)" in message_of("ancien.doc", old_word)


# --- Plain text and refusals ----------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
def test_plain_text_in_usual_encodings(encoding):
    raw = "Besoin : réservation des repas\r\nà la cantine.\r\n\r\n\r\n  Deuxième   paragraphe\u00a0: élèves  "
    assert extract_text("besoin.txt", raw.encode(encoding)) == (
        "Besoin : réservation des repas à la cantine.\n\nDeuxième paragraphe : élèves")


def test_text_is_capped():
    data = ("Un paragraphe de besoin sur la cantine scolaire.\n\n" * 5000).encode()
    assert len(extract_text("long.txt", data, max_chars=1000)) == 1000


def test_a_renamed_executable_is_refused():
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(range(256)) * 8
    assert "n'est pas un PDF valide" in message_of("cahier-des-charges.pdf", exe)
    assert "n'est pas pris en charge" in message_of("cahier-des-charges.txt", exe)
    assert "n'est pas pris en charge" in message_of("setup.exe", exe)


def test_empty_and_too_large_files_are_refused():
    assert message_of("vide.pdf", b"") == "Le fichier est vide."
    assert "10 Mo" in message_of("enorme.txt", b"a" * (MAX_UPLOAD_BYTES + 1))
    assert message_of("blanc.txt", b" \n\n \t ") == "Ce document ne contient pas de texte."
