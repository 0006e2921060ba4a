"""Crafted PDFs for the gate's tests, built in code so that no binary fixture is committed.

Every builder returns the file's bytes. Hostile files are made by editing a valid file's
objects with pikepdf, or its bytes directly where qpdf would refuse to write the damage.
"""

import base64
import datetime
import functools
import io
import re
import struct
import zlib
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import pikepdf
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from PIL import Image
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

Name = pikepdf.Name
MIB = 1024 * 1024
A4 = (Decimal("595.28"), Decimal("841.89"))


# --- valid documents -----------------------------------------------------------------------


def _new_document(pages: int = 1, size: tuple[Decimal, Decimal] = A4) -> pikepdf.Pdf:
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf.add_blank_page(page_size=size)
    return pdf


def _save(pdf: pikepdf.Pdf, encryption: pikepdf.Encryption | None = None) -> bytes:
    buffer = io.BytesIO()
    if encryption is not None:  # qpdf refuses to encrypt streams it may not decode
        pdf.save(buffer, static_id=True, encryption=encryption)
    else:
        # By default qpdf decodes LZW, ASCII85 and chained filters (and so the bombs) on the
        # way out and stores plain Flate instead: keep every stream as it was written.
        no_decoding = pikepdf.StreamDecodeLevel.none
        pdf.save(buffer, static_id=True, compress_streams=False, stream_decode_level=no_decoding)
    return buffer.getvalue()


def _edited(edit: Callable[[pikepdf.Pdf], object], pages: int = 1) -> bytes:
    pdf = _new_document(pages)
    edit(pdf)
    return _save(pdf)


def plain_a4() -> bytes:
    return _save(_new_document())


def linearized_with_object_streams() -> bytes:
    """An xref stream and object streams, as most current producers write, plus linearization."""
    buffer = io.BytesIO()
    generate = pikepdf.ObjectStreamMode.generate
    _new_document(3).save(buffer, static_id=True, object_stream_mode=generate, linearize=True)
    return buffer.getvalue()


def pages(count: int) -> bytes:
    return _save(_new_document(count))


def _first_page(pdf: pikepdf.Pdf) -> pikepdf.Dictionary:
    page: pikepdf.Dictionary = pdf.pages[0].obj
    return page


def rotated(rotate: int) -> bytes:
    return _edited(lambda pdf: _first_page(pdf).__setitem__("/Rotate", rotate))


def rotation_inherited_from_pages_node() -> bytes:
    return _edited(lambda pdf: pdf.Root.Pages.__setitem__("/Rotate", 90))


def media_box_inherited_from_pages_node() -> bytes:
    def edit(pdf: pikepdf.Pdf) -> None:
        pdf.Root.Pages.MediaBox = pikepdf.Array([0, 0, 300, 400])
        del _first_page(pdf)["/MediaBox"]

    return _edited(edit)


def with_crop_box(box: list[object]) -> bytes:
    return _edited(lambda pdf: _first_page(pdf).__setitem__("/CropBox", pikepdf.Array(box)))


def user_unit(unit: int) -> bytes:
    return _edited(lambda pdf: _first_page(pdf).__setitem__("/UserUnit", unit))


def without_media_box() -> bytes:
    return _edited(lambda pdf: _first_page(pdf).__delitem__("/MediaBox"))


def open_action_goto() -> bytes:
    def edit(pdf: pikepdf.Pdf) -> None:
        destination = pikepdf.Array([pdf.pages[0].obj, Name.Fit])
        pdf.Root.OpenAction = pikepdf.Dictionary(S=Name.GoTo, D=destination)

    return _edited(edit)


def uri_link() -> bytes:
    return uri_link_to("https://example.com/")


def uri_link_to(uri: str) -> bytes:
    action = pikepdf.Dictionary(S=Name.URI, URI=pikepdf.String(uri))
    return _with_annotation(Subtype=Name.Link, A=action)


def empty_signature_field() -> bytes:
    def edit(pdf: pikepdf.Pdf) -> None:
        field = _signature_widget(pdf)
        pdf.Root.AcroForm = pikepdf.Dictionary(Fields=pikepdf.Array([field]), SigFlags=3)

    return _edited(edit)


def font_resource_named_like_actions() -> bytes:
    """Resource names are arbitrary: a font called /AA or /JS is still only a font."""

    def edit(pdf: pikepdf.Pdf) -> None:
        font = pdf.make_indirect(
            pikepdf.Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica)
        )
        _first_page(pdf).Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(AA=font, JS=font))

    return _edited(edit)


def jpeg_image(size: tuple[int, int] = (64, 64)) -> bytes:
    """A page drawing one DCT-encoded image, the shape of a scanned document."""
    jpeg = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(jpeg, format="JPEG", quality=90)
    return _with_image_stream(
        jpeg.getvalue(), Name.DCTDecode, width=size[0], height=size[1], components=3
    )


def hex_encoded_flate_content() -> bytes:
    """A content stream through [/ASCIIHexDecode /FlateDecode], as some old tools write."""
    content = b"0 0 1 rg 72 72 200 100 re f\n"
    encoded = zlib.compress(content).hex().encode() + b">"
    return _with_content(encoded, [Name.ASCIIHexDecode, Name.FlateDecode])


def ascii85_encoded_content() -> bytes:
    content = b"0 0 1 rg 72 72 200 100 re f\n" * 10
    return _with_content(base64.a85encode(content) + b"~>", [Name.ASCII85Decode])


def lzw_encoded_content() -> bytes:
    return _with_content(lzw_encode(b"0 0 1 rg 72 72 200 100 re f\n" * 50), [Name.LZWDecode])


def _with_content(raw: bytes, filters: list[pikepdf.Name]) -> bytes:
    def edit(pdf: pikepdf.Pdf) -> None:
        stream = pdf.make_stream(b"")
        stream.write(raw, filter=pikepdf.Array(filters))
        _first_page(pdf).Contents = stream

    return _edited(edit)


def _with_image_stream(
    raw: bytes, filters: pikepdf.Name, *, width: int, height: int, components: int
) -> bytes:
    def edit(pdf: pikepdf.Pdf) -> None:
        image = pdf.make_stream(b"")
        image.write(raw, filter=filters)
        image.Type, image.Subtype = Name.XObject, Name.Image
        image.Width, image.Height, image.BitsPerComponent = width, height, 8
        image.ColorSpace = Name.DeviceRGB if components == 3 else Name.DeviceGray
        page = _first_page(pdf)
        page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))
        page.Contents = pdf.make_stream(b"q 500 0 0 700 40 60 cm /Im0 Do Q\n")

    return _edited(edit)


def _with_annotation(**entries: Any) -> bytes:
    def edit(pdf: pikepdf.Pdf) -> None:
        annotation = pikepdf.Dictionary(Type=Name.Annot, Rect=[72, 72, 200, 100], **entries)
        _first_page(pdf).Annots = pikepdf.Array([pdf.make_indirect(annotation)])

    return _edited(edit)


def _signature_widget(
    pdf: pikepdf.Pdf, *, name: str = "Signature1", field_type: str = "/Sig", **entries: Any
) -> pikepdf.Object:
    widget = pikepdf.Dictionary(
        Type=Name.Annot,
        Subtype=Name.Widget,
        FT=Name(field_type),
        T=pikepdf.String(name),
        Rect=[0, 0, 0, 0],
        F=132,
        P=pdf.pages[0].obj,
        **entries,
    )
    field = pdf.make_indirect(widget)
    _first_page(pdf).Annots = pikepdf.Array([field])
    return field


# --- not a PDF, damaged, encrypted ----------------------------------------------------------


def png_image() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 128, 255)).save(buffer, format="PNG")
    return buffer.getvalue()


def plain_text() -> bytes:
    return b"Dear customer,\nplease sign the attached contract.\n"


def junk_before_header() -> bytes:
    return b"garbage from a mail gateway\r\n" + plain_a4()


def header_only() -> bytes:
    return b"%PDF-1.7\n%%EOF\n"


def truncated() -> bytes:
    data = plain_a4()
    return data[: len(data) // 2]


def _startxref_offset(data: bytes) -> int:
    match = re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", data)
    assert match is not None
    return int(match.group(1))


def _with_startxref(data: bytes, offset: int) -> bytes:
    return data[: data.rindex(b"startxref")] + b"startxref\n%d\n%%%%EOF\n" % offset


def startxref_past_eof() -> bytes:
    return _with_startxref(plain_a4(), 10_000_000)


def xref_loop() -> bytes:
    """The trailer's /Prev points back at its own xref table."""
    data = plain_a4()
    own_xref = _startxref_offset(data)
    return data.replace(b"trailer <<", b"trailer << /Prev %d" % own_xref, 1)


def xref_offsets_shifted() -> bytes:
    data = plain_a4()
    return re.sub(rb"(\d{10}) 00000 n", lambda m: b"%010d 00000 n" % (int(m[1]) + 7), data)


def page_tree_loop() -> bytes:
    return _edited(lambda pdf: pdf.Root.Pages.Kids.append(pdf.Root.Pages))


def owner_password_encrypted() -> bytes:
    encryption = pikepdf.Encryption(owner="owner-secret", user="", R=6)
    return _save(_new_document(), encryption=encryption)


def user_password_encrypted() -> bytes:
    encryption = pikepdf.Encryption(owner="owner-secret", user="user-secret", R=6)
    return _save(_new_document(), encryption=encryption)


# --- active content, attachments, XFA --------------------------------------------------------


def _javascript(code: str = "app.alert('hi');") -> pikepdf.Dictionary:
    return pikepdf.Dictionary(S=Name.JavaScript, JS=pikepdf.String(code))


def open_action_javascript() -> bytes:
    return _edited(lambda pdf: pdf.Root.__setitem__("/OpenAction", _javascript()))


def open_action_uri() -> bytes:
    action = pikepdf.Dictionary(S=Name.URI, URI=pikepdf.String("https://example.com/track"))
    return _edited(lambda pdf: pdf.Root.__setitem__("/OpenAction", action))


def page_additional_actions() -> bytes:
    aa = pikepdf.Dictionary(O=_javascript())
    return _edited(lambda pdf: _first_page(pdf).__setitem__("/AA", aa))


def document_javascript() -> bytes:
    def edit(pdf: pikepdf.Pdf) -> None:
        tree = pikepdf.Array([pikepdf.String("init"), pdf.make_indirect(_javascript())])
        pdf.Root.Names = pikepdf.Dictionary(JavaScript=pikepdf.Dictionary(Names=tree))

    return _edited(edit)


def launch_action_link() -> bytes:
    action = pikepdf.Dictionary(S=Name.Launch, F=pikepdf.String("calc.exe"))
    return _with_annotation(Subtype=Name.Link, A=action)


def javascript_link_without_action_type() -> bytes:
    """A /JS entry alone, as some viewers still run it."""
    return _with_annotation(Subtype=Name.Link, A=pikepdf.Dictionary(JS=pikepdf.String("1")))


def rich_media_annotation() -> bytes:
    return _with_annotation(Subtype=Name.RichMedia, RichMediaContent=pikepdf.Dictionary())


def embedded_file() -> bytes:
    def edit(pdf: pikepdf.Pdf) -> None:
        spec = pikepdf.AttachedFileSpec(pdf, b"hidden payload\n", filename="payload.txt")
        pdf.attachments["payload.txt"] = spec

    return _edited(edit)


def orphan_file_specification() -> bytes:
    """An embedded file reachable from nowhere but the object table."""

    def edit(pdf: pikepdf.Pdf) -> None:
        payload = pdf.make_stream(b"MZ payload", Type=Name.EmbeddedFile)
        spec = pikepdf.Dictionary(Type=Name.Filespec, EF=pikepdf.Dictionary(F=payload))
        pdf.Root.Unrelated = pdf.make_indirect(spec)

    return _edited(edit)


def file_attachment_annotation() -> bytes:
    spec = pikepdf.Dictionary(Type=Name.Filespec, F=pikepdf.String("invoice.exe"))
    return _with_annotation(Subtype=Name.FileAttachment, FS=spec)


def xfa_form() -> bytes:
    def edit(pdf: pikepdf.Pdf) -> None:
        xdp = pdf.make_stream(b'<xdp:xdp xmlns:xdp="http://ns.adobe.com/xdp/"></xdp:xdp>')
        pdf.Root.AcroForm = pikepdf.Dictionary(Fields=pikepdf.Array(), XFA=xdp)

    return _edited(edit)


# --- existing signatures ------------------------------------------------------------------------


def signature_field_with_value() -> bytes:
    """A /Sig field whose /V is a signature dictionary (with no /Type, which is optional)."""

    def edit(pdf: pikepdf.Pdf) -> None:
        value = pikepdf.Dictionary(
            Filter=Name("/Adobe.PPKLite"),
            SubFilter=Name("/ETSI.CAdES.detached"),
            ByteRange=[0, 10, 20, 30],
            Contents=pikepdf.String(b"\0" * 64),
        )
        field = _signature_widget(pdf, V=pdf.make_indirect(value))
        pdf.Root.AcroForm = pikepdf.Dictionary(Fields=pikepdf.Array([field]), SigFlags=3)

    return _edited(edit)


def docmdp_permissions() -> bytes:
    def edit(pdf: pikepdf.Pdf) -> None:
        signature = pdf.make_indirect(pikepdf.Dictionary(Type=Name.Sig))
        pdf.Root.Perms = pikepdf.Dictionary(DocMDP=signature)

    return _edited(edit)


@functools.cache
def _throwaway_signer() -> signers.SimpleSigner:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Cachet gate test signer")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert = asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
    private_key = asn1_keys.PrivateKeyInfo.load(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    registry = SimpleCertificateStore()  # type: ignore[no-untyped-call]  # unannotated upstream
    registry.register(cert)
    return signers.SimpleSigner(signing_cert=cert, signing_key=private_key, cert_registry=registry)


def signed_by_pyhanko() -> bytes:
    """Synchronous pyHanko API: it starts its own event loop, so call it outside of one."""
    writer = IncrementalPdfFileWriter(io.BytesIO(plain_a4()), strict=True)
    signed = signers.sign_pdf(
        writer,
        signers.PdfSignatureMetadata(field_name="Signature1"),
        signer=_throwaway_signer(),
        new_field_spec=fields.SigFieldSpec("Signature1", box=(72, 72, 272, 122)),
    )
    data: bytes = signed.getvalue()
    return data


# --- scripts in every form (issue 10) ----------------------------------------------------------


def _script_stream(pdf: pikepdf.Pdf, code: bytes = b"app.alert('hi');") -> pikepdf.Stream:
    return pdf.make_stream(code)


def _script(pdf: pikepdf.Pdf, as_stream: bool, **entries: Any) -> pikepdf.Dictionary:
    """An action dictionary whose /JS is a string or a stream, with whatever else it is given."""
    script = _script_stream(pdf) if as_stream else pikepdf.String("app.alert('hi');")
    return pikepdf.Dictionary(JS=script, **entries)


def _with_link_action(action: Callable[[pikepdf.Pdf], pikepdf.Object]) -> bytes:
    def edit(pdf: pikepdf.Pdf) -> None:
        link = pikepdf.Dictionary(
            Type=Name.Annot, Subtype=Name.Link, Rect=[72, 72, 200, 100], A=action(pdf)
        )
        _first_page(pdf).Annots = pikepdf.Array([pdf.make_indirect(link)])

    return _edited(edit)


def javascript_stream_action() -> bytes:
    """/S /JavaScript with the script in a stream."""
    return _with_link_action(lambda pdf: _script(pdf, True, S=Name.JavaScript))


def bare_javascript_stream() -> bytes:
    """A /JS stream with no action type at all."""
    return _with_link_action(lambda pdf: _script(pdf, True))


def rendition_javascript(as_stream: bool) -> bytes:
    """A /Rendition action runs its /JS (ISO 32000 12.6.4.13), string or stream."""
    return _with_link_action(
        lambda pdf: _script(pdf, as_stream, S=Name.Rendition, OP=0, AN=_first_page(pdf))
    )


def javascript_at_end_of_next_chain(length: int, *, as_stream: bool, looping: bool) -> bytes:
    """A link's harmless URI action, followed through /Next by `length` more indirect URI
    actions and then a script (a /Rendition, or a bare /JS); `looping` sends the script's own
    /Next back to the head of the chain."""

    def action(pdf: pikepdf.Pdf) -> pikepdf.Object:
        script = pdf.make_indirect(_script(pdf, as_stream, S=Name.Rendition, OP=0))
        head = script
        for _ in range(length):
            head = pdf.make_indirect(_uri_action(Next=head))
        if looping:
            script.Next = head
        return head

    return _with_link_action(action)


def javascript_under_array_next() -> bytes:
    """/Next may be an array of actions; the script is the second one, with no action type."""
    return _with_link_action(
        lambda pdf: _uri_action(Next=pikepdf.Array([_uri_action(), _script(pdf, True)]))
    )


def javascript_nested_next_chain(depth: int) -> bytes:
    """`depth` URI actions nested directly in one another through /Next, then /S /JavaScript.

    Past 500 levels qpdf drops the rest of the object with a warning, script and all, and
    pyHanko's parser exhausts Python's recursion; viewers read it whole."""
    inner = b"<< /S /JavaScript /JS (app.alert(1)) >>"
    for _ in range(depth):
        inner = b"<< /S /URI /URI (https://example.com/) /Next " + inner + b" >>"
    placeholder = b"(NESTED-NEXT-CHAIN)"
    data = _with_link_action(lambda pdf: _uri_action(Next=pikepdf.String(placeholder[1:-1])))
    return rebuild_xref(data.replace(placeholder, inner))


def _uri_action(**entries: Any) -> pikepdf.Dictionary:
    return pikepdf.Dictionary(S=Name.URI, URI=pikepdf.String("https://example.com/"), **entries)


def page_open_script(as_stream: bool) -> bytes:
    """A page's /AA: a bare script on page open, no action type."""
    return _edited(
        lambda pdf: _first_page(pdf).__setitem__(
            "/AA", pikepdf.Dictionary(O=_script(pdf, as_stream))
        )
    )


def field_format_script(as_stream: bool) -> bytes:
    """A text field's /AA: on focus, a typeless action whose /Next (indirect) is the script."""

    def edit(pdf: pikepdf.Pdf) -> None:
        script = pdf.make_indirect(_script(pdf, as_stream))
        field = _text_field(pdf, "Name", AA=pikepdf.Dictionary(Fo=pikepdf.Dictionary(Next=script)))
        pdf.Root.AcroForm = pikepdf.Dictionary(Fields=pikepdf.Array([field]))

    return _edited(edit)


def annotation_enter_script(as_stream: bool) -> bytes:
    """A square annotation's /AA: on mouse enter, an indirect /Rendition with a script."""

    def edit(pdf: pikepdf.Pdf) -> None:
        rendition = pdf.make_indirect(_script(pdf, as_stream, S=Name.Rendition, OP=0))
        annotation = pikepdf.Dictionary(
            Type=Name.Annot,
            Subtype=Name.Square,
            Rect=[72, 72, 200, 100],
            AA=pikepdf.Dictionary(E=rendition),
        )
        _first_page(pdf).Annots = pikepdf.Array([pdf.make_indirect(annotation)])

    return _edited(edit)


def image_resource_named_js() -> bytes:
    """Resource names are arbitrary: an image called /JS is still only an image."""

    def edit(pdf: pikepdf.Pdf) -> None:
        image = pdf.make_stream(b"\xff\x00\x00" * 4)
        image.Type, image.Subtype = Name.XObject, Name.Image
        image.Width = image.Height = 2
        image.ColorSpace, image.BitsPerComponent = Name.DeviceRGB, 8
        page = _first_page(pdf)
        page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(JS=image))
        page.Contents = pdf.make_stream(b"q 100 0 0 100 72 72 cm /JS Do Q\n")

    return _edited(edit)


def _text_field(pdf: pikepdf.Pdf, name: str, **entries: Any) -> pikepdf.Object:
    widget = pikepdf.Dictionary(
        Type=Name.Annot,
        Subtype=Name.Widget,
        FT=Name.Tx,
        T=pikepdf.String(name),
        Rect=[72, 700, 272, 720],
        P=_first_page(pdf),
        **entries,
    )
    field = pdf.make_indirect(widget)
    page = _first_page(pdf)
    page.Annots = pikepdf.Array([*page.get("/Annots", pikepdf.Array()), field])
    return field


# --- objects nested too deep --------------------------------------------------------------------


def deeply_nested(levels: int) -> bytes:
    """An object the catalog refers to: a dictionary holding arrays, `levels` in all."""
    placeholder = b"(NESTED-ARRAYS)"

    def edit(pdf: pikepdf.Pdf) -> None:
        filler = pikepdf.Dictionary(Deep=pikepdf.String(placeholder[1:-1]))
        pdf.Root.Filler = pdf.make_indirect(filler)

    arrays = levels - 1
    return rebuild_xref(_edited(edit).replace(placeholder, b"[" * arrays + b"0" + b"]" * arrays))


# --- stream lengths -----------------------------------------------------------------------------


def wrong_stream_length(delta: int) -> bytes:
    """The page's content stream declares `delta` bytes more (or fewer) than it holds."""
    content = b"0 0 1 rg 72 72 200 100 re f\n" * 20
    data = _with_content(content, [])
    declared = b"/Length %d >>\nstream\n" % len(content)
    assert declared in data
    return rebuild_xref(data.replace(declared, b"/Length %d >>\nstream\n" % (len(content) + delta)))


# --- form field trees ---------------------------------------------------------------------------


def _with_form(build: Callable[[pikepdf.Pdf], list[pikepdf.Object]]) -> bytes:
    def edit(pdf: pikepdf.Pdf) -> None:
        pdf.Root.AcroForm = pikepdf.Dictionary(Fields=pikepdf.Array(build(pdf)))

    return _edited(edit)


def _parent_field(pdf: pikepdf.Pdf, name: str, kids: list[pikepdf.Object]) -> pikepdf.Object:
    return pdf.make_indirect(
        pikepdf.Dictionary(T=pikepdf.String(name), FT=Name.Tx, Kids=pikepdf.Array(kids))
    )


def form_kids_loop(levels: int = 3) -> bytes:
    """A chain of parent fields whose deepest /Kids points back at the top one."""

    def build(pdf: pikepdf.Pdf) -> list[pikepdf.Object]:
        top = _parent_field(pdf, "top", [])
        node = top
        for level in range(levels):
            child = _parent_field(pdf, f"level{level}", [])
            node.Kids.append(child)
            node = child
        node.Kids.append(top)
        return [top]

    return _with_form(build)


def form_field_with_two_parents(levels: int = 20) -> bytes:
    """Each level's /Kids names the next field twice: no loop, but 2**levels paths."""

    def build(pdf: pikepdf.Pdf) -> list[pikepdf.Object]:
        node = _text_field(pdf, "leaf")
        for level in range(levels):
            node = _parent_field(pdf, f"l{level}", [node, node])
        return [node]

    return _with_form(build)


def form_nested(levels: int) -> bytes:
    """A single field at the bottom of `levels` parent fields."""

    def build(pdf: pikepdf.Pdf) -> list[pikepdf.Object]:
        node = _text_field(pdf, "leaf")
        for level in range(levels - 1):
            node = _parent_field(pdf, f"l{level}", [node])
        return [node]

    return _with_form(build)


def form_fields(count: int, *, pages: int = 1) -> bytes:
    """`count` text fields, each its own widget, spread over the pages in turn."""

    def edit(pdf: pikepdf.Pdf) -> None:
        page_list = [page.obj for page in pdf.pages]
        annotations: list[list[pikepdf.Object]] = [[] for _ in page_list]
        fields_ = []
        for index in range(count):
            page = index % len(page_list)
            widget = pikepdf.Dictionary(
                Type=Name.Annot,
                Subtype=Name.Widget,
                FT=Name.Tx,
                T=pikepdf.String(f"field{index}"),
                Rect=[72, 72, 90, 80],
                P=page_list[page],
            )
            field = pdf.make_indirect(widget)
            annotations[page].append(field)
            fields_.append(field)
        for page_obj, annots in zip(page_list, annotations, strict=True):
            if annots:
                page_obj.Annots = pikepdf.Array(annots)
        pdf.Root.AcroForm = pikepdf.Dictionary(Fields=pikepdf.Array(fields_))

    return _edited(edit, pages)


def form_direct_field() -> bytes:
    """/Fields holds a field dictionary itself instead of a reference to it."""

    def edit(pdf: pikepdf.Pdf) -> None:
        field = pikepdf.Dictionary(FT=Name.Tx, T=pikepdf.String("inline"))
        pdf.Root.AcroForm = pikepdf.Dictionary(Fields=pikepdf.Array([field]))

    return _edited(edit)


def acro_form_not_a_dictionary() -> bytes:
    return _edited(lambda pdf: pdf.Root.__setitem__("/AcroForm", pikepdf.Array()))


def annotations_not_an_array() -> bytes:
    return _edited(lambda pdf: _first_page(pdf).__setitem__("/Annots", pikepdf.Dictionary()))


def with_form_field(name: str, field_type: str = "/Sig") -> bytes:
    """One empty form field (a signature field by default) called `name`, on page 1."""

    def edit(pdf: pikepdf.Pdf) -> None:
        field = _signature_widget(pdf, name=name, field_type=field_type)
        pdf.Root.AcroForm = pikepdf.Dictionary(Fields=pikepdf.Array([field]))

    return _edited(edit)


def form_field_names(data: bytes) -> set[str]:
    """The fully qualified names of a PDF's form fields, as pikepdf reads them."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        return {field.fully_qualified_name for field in pdf.acroform.fields}


def top_field_names(data: bytes) -> list[str]:
    """The /T of each entry of /AcroForm /Fields, in order."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        return [str(field.T) for field in pdf.Root.AcroForm.Fields]


# --- earlier revisions --------------------------------------------------------------------------


def signed_then_freed() -> bytes:
    """Signed by pyHanko, then an incremental update frees the signature field and its value,
    and rewrites the catalog without the form and the page without the widget: qpdf's view of
    the last revision shows no signature at all."""
    signed = signed_by_pyhanko()
    with pikepdf.open(io.BytesIO(signed)) as pdf:
        page = _first_page(pdf)
        widget = page.Annots[0]
        value = widget.V
        catalog = pdf.Root
        replaced = {
            catalog.objgen[0]: _without(catalog, "/AcroForm", "/Perms"),
            page.objgen[0]: _without(page, "/Annots"),
        }
        freed = [widget.objgen[0], value.objgen[0]]
        size, root = int(pdf.trailer.Size), catalog.objgen[0]
    return append_update(signed, replaced, freed=freed, size=size, root=root)


def signed_then_overwritten() -> bytes:
    """As signed_then_freed, but the signature value is redefined as null and the field as a
    plain text field, instead of being freed."""
    signed = signed_by_pyhanko()
    with pikepdf.open(io.BytesIO(signed)) as pdf:
        page = _first_page(pdf)
        widget = page.Annots[0]
        catalog = pdf.Root
        replaced = {
            catalog.objgen[0]: _without(catalog, "/AcroForm", "/Perms"),
            page.objgen[0]: _without(page, "/Annots"),
            widget.objgen[0]: b"<< /FT /Tx /T (Renamed) >>",
            widget.V.objgen[0]: b"null",
        }
        size, root = int(pdf.trailer.Size), catalog.objgen[0]
    return append_update(signed, replaced, size=size, root=root)


def signed_then_unchained() -> bytes:
    """Signed by pyHanko, then a new last section that lists every object but the signature's
    and has no /Prev: neither qpdf nor pyHanko sees more than one revision; the signed one
    is only bytes in the file."""
    signed = signed_by_pyhanko()
    with pikepdf.open(io.BytesIO(signed)) as pdf:
        page = _first_page(pdf)
        widget = page.Annots[0]
        hidden = {widget.objgen[0], widget.V.objgen[0]}
        catalog = pdf.Root
        replaced = {
            catalog.objgen[0]: _without(catalog, "/AcroForm", "/Perms"),
            page.objgen[0]: _without(page, "/Annots"),
        }
        keep = {
            number: entry.offset
            for (number, _), entry in pdf.get_xref_table().items()
            if entry.offset is not None and number not in hidden | replaced.keys()
        }
        size, root = int(pdf.trailer.Size), catalog.objgen[0]
    return append_update(signed, replaced, size=size, root=root, unchained_keep=keep)


def updated_incrementally(revisions: int) -> bytes:
    """`revisions` - 1 incremental updates, each rewriting the (unchanged) catalog."""
    data = plain_a4()
    with pikepdf.open(io.BytesIO(data)) as pdf:
        root, size = pdf.Root.objgen[0], int(pdf.trailer.Size)
        catalog = _without(pdf.Root)
    for _ in range(revisions - 1):
        data = append_update(data, {root: catalog}, size=size, root=root)
    return data


def _without(obj: pikepdf.Object, *keys: str) -> bytes:
    copy = pikepdf.Dictionary({key: value for key, value in obj.items() if key not in keys})
    return bytes(copy.unparse(resolved=False))


# --- raw bytes: what qpdf would not write -------------------------------------------------------

_OBJECT_HEADER = re.compile(rb"(?:^|\n)(\d+) 0 obj\b")


def rebuild_xref(data: bytes) -> bytes:
    """A single-revision file whose object bytes were edited: its cross-reference table and
    startxref recomputed from where each "n 0 obj" now starts (qpdf writes no object streams
    here, and the edits put no such text inside a stream)."""
    body_end = data.rindex(b"\nxref\n") + 1
    trailer = data[data.index(b"trailer", body_end) : data.rindex(b"startxref")]
    offsets = {
        int(match[1]): match.start(1) for match in _OBJECT_HEADER.finditer(data, 0, body_end)
    }
    count = max(offsets) + 1
    table = [b"xref\n0 %d\n" % count, b"0000000000 65535 f \n"]
    table += [b"%010d 00000 n \n" % offsets[number] for number in range(1, count)]
    return data[:body_end] + b"".join(table) + trailer + b"startxref\n%d\n%%%%EOF\n" % body_end


def append_update(
    data: bytes,
    objects: dict[int, bytes],
    *,
    size: int,
    root: int,
    freed: Sequence[int] = (),
    unchained_keep: dict[int, int] | None = None,
) -> bytes:
    """An incremental update: new generation-0 bodies for `objects`, `freed` marked free (the
    next generation being 1), a classic xref section chained to the previous one by /Prev.

    With `unchained_keep` (object number -> offset of the body to keep), the section lists
    those and the new bodies only, and has no /Prev: the earlier revisions drop out of every
    cross-reference chain, though their bytes stay in the file."""
    out = bytearray(data if data.endswith(b"\n") else data + b"\n")
    entries: dict[int, bytes] = {}
    for number, offset in (unchained_keep or {}).items():
        entries[number] = b"%010d 00000 n \n" % offset
    for number, body in sorted(objects.items()):
        entries[number] = b"%010d 00000 n \n" % len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    for number in freed:
        entries[number] = b"0000000000 00001 f \n"
    xref = len(out)
    out += b"xref\n0 1\n0000000000 65535 f \n"
    for number, entry in sorted(entries.items()):
        out += b"%d 1\n%s" % (number, entry)
    chain = b"" if unchained_keep is not None else b" /Prev %d" % _startxref_offset(data)
    out += b"trailer\n<< /Size %d /Root %d 0 R%s >>\n" % (size, root, chain)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


# --- size limits and bombs ---------------------------------------------------------------------


def many_objects(count: int) -> bytes:
    def edit(pdf: pikepdf.Pdf) -> None:
        filler = [pdf.make_indirect(pikepdf.Dictionary(N=i)) for i in range(count)]
        pdf.Root.Filler = pikepdf.Array(filler)

    return _edited(edit)


def flate_bomb(decoded_bytes: int) -> bytes:
    """One FlateDecode layer: deflate peaks near 1,030:1, so 70 MiB needs ~70 KB of file."""
    return _with_content(zero_deflate(decoded_bytes), [Name.FlateDecode])


def zero_deflate(decoded_bytes: int) -> bytes:
    """zlib data for `decoded_bytes` zeros (a multiple of 1 MiB), built without inflating them.

    After a full flush deflate restarts from a clean state, so each further MiB of zeros
    compresses to the same ~1 KB block; only the trailing Adler-32 depends on the total length.
    """
    assert decoded_bytes % MIB == 0
    compressor = zlib.compressobj(9)
    zeros = b"\0" * MIB
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeated = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    final_block = compressor.flush()[:-4]
    adler32 = ((decoded_bytes % 65521) << 16) | 1  # Adler-32 of n zero bytes: a = 1, b = n
    body = first + repeated * (decoded_bytes // MIB - 1)
    return body + final_block + struct.pack(">I", adler32)


def nested_flate_bomb(decoded_bytes: int = 4096 * MIB) -> bytes:
    """[/FlateDecode /FlateDecode]: ~10 KB on disk, 4 GiB once both layers are inflated."""
    return _with_content(
        zlib.compress(zero_deflate(decoded_bytes), 9), [Name.FlateDecode, Name.FlateDecode]
    )


def ascii85_flate_bomb(decoded_bytes: int) -> bytes:
    """A bomb behind a text filter: the chain must be followed through ASCII85 first."""
    encoded = base64.a85encode(zlib.compress(b"\0" * decoded_bytes, 9)) + b"~>"
    return _with_content(encoded, [Name.ASCII85Decode, Name.FlateDecode])


def run_length_bomb(decoded_bytes: int) -> bytes:
    runs = decoded_bytes // 128
    return _with_content(bytes([129, 0]) * runs + bytes([128]), [Name.RunLengthDecode])


def long_filter_chain(length: int) -> bytes:
    data = b"0 0 1 rg 72 72 200 100 re f\n"
    for _ in range(length):
        data = zlib.compress(data)
    return _with_content(data, [Name.FlateDecode] * length)


def unknown_filter() -> bytes:
    return _with_content(b"whatever", [Name("/BrotliDecode")])


def streams_over_total_budget(streams: int, each: int) -> bytes:
    def edit(pdf: pikepdf.Pdf) -> None:
        contents = []
        for _ in range(streams):
            stream = pdf.make_stream(b"")
            stream.write(zlib.compress(b" " * each, 9), filter=Name.FlateDecode)
            contents.append(stream)
        _first_page(pdf).Contents = pikepdf.Array(contents)

    return _edited(edit)


def lzw_bomb(units: int) -> bytes:
    """[/FlateDecode /LZWDecode]: each unit of ~43 KB of LZW codes decodes to ~58 MB of zeros.

    The gate leaves LZW to qpdf, so this is what the worker's memory cap is for.
    """
    return _with_content(
        zlib.compress(_lzw_zero_units(units), 9), [Name.FlateDecode, Name.LZWDecode]
    )


# --- LZW (PDF flavour: MSB first, EarlyChange 1), which neither qpdf nor pikepdf can write ----

_CLEAR, _END, _FIRST_ENTRY, _TABLE_FULL = 256, 257, 258, 4094


def _code_width(next_entry: int) -> int:
    # With EarlyChange the reader widens codes one entry before the table needs it.
    for bits in (9, 10, 11):
        if next_entry + 1 < (1 << bits):
            return bits
    return 12


def _pack_codes(codes: list[tuple[int, int]]) -> bytes:
    accumulator, pending_bits, out = 0, 0, bytearray()
    for code, width in codes:
        accumulator = ((accumulator << width) | code) & 0xFFFFFFFF
        pending_bits += width
        while pending_bits >= 8:
            pending_bits -= 8
            out.append((accumulator >> pending_bits) & 0xFF)
    if pending_bits:
        out.append((accumulator << (8 - pending_bits)) & 0xFF)
    return bytes(out)


def lzw_encode(data: bytes) -> bytes:
    table = {bytes([i]): i for i in range(256)}
    next_entry = _FIRST_ENTRY
    codes = [(_CLEAR, 9)]
    prefix = b""
    for byte in data:
        candidate = prefix + bytes([byte])
        if candidate in table:
            prefix = candidate
            continue
        codes.append((table[prefix], _code_width(next_entry - 1)))
        table[candidate] = next_entry
        next_entry += 1
        prefix = bytes([byte])
        if next_entry >= _TABLE_FULL:
            codes.append((_CLEAR, _code_width(next_entry - 1)))
            table = {bytes([i]): i for i in range(256)}
            next_entry = _FIRST_ENTRY
    if prefix:
        codes.append((table[prefix], _code_width(next_entry - 1)))
    codes.append((_END, _code_width(next_entry)))
    return _pack_codes(codes)


def _lzw_zero_units(units: int) -> bytes:
    """Zeros encode as codes for runs of 1, 2, 3 ... n zeros; 3,800 runs fill the table."""
    runs = 3800
    cycle = [(0, 9)]
    cycle += [(entry, _code_width(entry)) for entry in range(_FIRST_ENTRY, _FIRST_ENTRY + runs - 1)]
    cycle.append((_CLEAR, 12))
    unit = _pack_codes(cycle * 8)  # eight cycles always end on a byte boundary
    return unit * units + _pack_codes([(_END, 9)])


LZW_UNIT_BYTES = 8 * 3800 * 3801 // 2
