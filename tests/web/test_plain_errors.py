"""Errors on the System page read as sentences (templates/_errors.html).

The recorder's errors are log lines ("camera garage: cannot connect to ...: [Errno 111]
Connect call failed (...)"); an admin reading the page gets what went wrong in words,
with the log line still in the tooltip. The rules are static/js/plain_errors.json, which
static/js/errors.js reads for the live tiles and the player (checked in
tests/browser/test_live_view.py).
"""

from nvr.web.pages.render import TEMPLATES


def plain(text: str) -> str:
    macro = TEMPLATES.env.get_template("_errors.html").module.plain_error  # type: ignore[attr-defined]
    return str(macro(text))


def test_a_refused_connection_names_the_address_and_keeps_the_log_line() -> None:
    raw = ("camera garage: cannot connect to 10.0.0.5:554: [Errno 111] "
           "Connect call failed ('10.0.0.5', 554)")
    html = plain(raw)
    assert ">Nothing answers at 10.0.0.5:554 (connection refused): is it on" in html
    assert 'title="camera garage: cannot connect to 10.0.0.5:554: [Errno 111]' in html


def test_known_errors_in_words() -> None:
    assert "refused the username or password" in plain("camera answered 401 Unauthorized")
    assert "No answer in time" in plain("camera did not answer in time")
    assert "Could not connect: nothing answered." in plain(
        "ConnectError: All connection attempts failed")


def test_an_unknown_error_passes_through_unchanged() -> None:
    html = plain("only corrupt frames arrive")
    assert html == '<span class="sys-cam-error">only corrupt frames arrive</span>'


def test_the_rules_file_is_what_both_sides_read() -> None:
    from nvr.web.plain_errors import RULES_FILE, plain_error

    assert RULES_FILE.name == "plain_errors.json" and RULES_FILE.parent.name == "js"
    assert plain_error("camera x: cannot connect to h:1: no route to host") == (
        "Can't reach anything at h:1: no route on the network.")
    assert plain_error(None) == ""
