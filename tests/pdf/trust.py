"""The classes of files that issue 10 ("trust under attack") found the gate accepting: one
builder per variant, with the code each is now refused with under the default limits; and the
near misses that must still pass. The gate's own tests and the upload tests over HTTP share
these tables."""

from collections.abc import Callable

from tests.pdf import corpus

Build = Callable[[], bytes]

SCRIPTS: list[tuple[str, Build]] = [
    ("/S /JavaScript, script in a stream", corpus.javascript_stream_action),
    ("bare /JS stream", corpus.bare_javascript_stream),
    ("/Rendition, /JS string", lambda: corpus.rendition_javascript(as_stream=False)),
    ("/Rendition, /JS stream", lambda: corpus.rendition_javascript(as_stream=True)),
    (
        "/JS stream after 50 /Next",
        lambda: corpus.javascript_at_end_of_next_chain(50, as_stream=True, looping=False),
    ),
    (
        "/JS stream in a looping /Next chain",
        lambda: corpus.javascript_at_end_of_next_chain(50, as_stream=True, looping=True),
    ),
    (
        "/JS string in a looping /Next chain",
        lambda: corpus.javascript_at_end_of_next_chain(3, as_stream=False, looping=True),
    ),
    ("/JS stream in a /Next array", corpus.javascript_under_array_next),
    ("javascript: link", lambda: corpus.uri_link_to(" Java\tScript:app.alert(1)")),
    ("/JavaScript 100 /Next deep, direct", lambda: corpus.javascript_nested_next_chain(100)),
    ("page /AA, bare /JS stream", lambda: corpus.page_open_script(as_stream=True)),
    ("page /AA, bare /JS string", lambda: corpus.page_open_script(as_stream=False)),
    ("field /AA, /JS stream via /Next", lambda: corpus.field_format_script(as_stream=True)),
    ("field /AA, /JS string via /Next", lambda: corpus.field_format_script(as_stream=False)),
    ("annotation /AA, /Rendition stream", lambda: corpus.annotation_enter_script(as_stream=True)),
]

REFUSED: list[tuple[str, Build, str]] = [
    *((name, build, "active_content") for name, build in SCRIPTS),
    # qpdf drops what lies past 500 levels, script included, and only warns.
    ("/JavaScript 600 /Next deep", lambda: corpus.javascript_nested_next_chain(600), "too_complex"),
    ("65 levels", lambda: corpus.deeply_nested(65), "too_complex"),
    ("700 levels", lambda: corpus.deeply_nested(700), "too_complex"),
    ("/Length 10 too long", lambda: corpus.wrong_stream_length(10), "damaged"),
    ("/Length 10 too short", lambda: corpus.wrong_stream_length(-10), "damaged"),
    ("/Length past the file", lambda: corpus.wrong_stream_length(100_000), "damaged"),
    ("/Kids loop", corpus.form_kids_loop, "too_complex"),
    ("/Kids loop onto itself", lambda: corpus.form_kids_loop(0), "too_complex"),
    ("field with two parents", corpus.form_field_with_two_parents, "too_complex"),
    ("form 33 levels", lambda: corpus.form_nested(33), "too_complex"),
    ("form 300 levels", lambda: corpus.form_nested(300), "too_complex"),
    ("1,001 fields", lambda: corpus.form_fields(1001), "too_complex"),
    ("field inline in /Fields", corpus.form_direct_field, "damaged"),
    ("/AcroForm not a dictionary", corpus.acro_form_not_a_dictionary, "damaged"),
    ("/Annots not an array", corpus.annotations_not_an_array, "damaged"),
    ("signed, then freed", corpus.signed_then_freed, "already_signed"),
    ("signed, then overwritten", corpus.signed_then_overwritten, "already_signed"),
    ("signed, then unchained", corpus.signed_then_unchained, "already_signed"),
    ("201 revisions", lambda: corpus.updated_incrementally(201), "too_complex"),
]

STILL_ACCEPTED: list[tuple[str, Build]] = [
    ("https: link", lambda: corpus.uri_link_to("https://example.com/javascript:")),
    ("image resource named /JS", corpus.image_resource_named_js),
    ("64 levels", lambda: corpus.deeply_nested(64)),
    ("form 32 levels", lambda: corpus.form_nested(32)),
    ("1,000 fields", lambda: corpus.form_fields(1000)),
    ("empty field named as Cachet's", lambda: corpus.with_form_field("Signer1-0a1b2c3d")),
    ("200 revisions", lambda: corpus.updated_incrementally(200)),
]
