"""Bahasa Indonesia by default, English on request; and the committed catalogues are complete and
compiled. When a new source string fails these tests, run `make messages`, translate the empty
msgstr in locale/id/LC_MESSAGES/*.po and run `make messages` again to compile."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.test import Client
from django.utils.translation import trans_real

LOCALE_ID = Path(settings.BASE_DIR) / "locale" / "id" / "LC_MESSAGES"
DOMAINS = ("django", "djangojs")
LOGIN = "/accounts/login/"
CONNECTION_LOST_ID = "Terputus — menyambung ulang…"
PLACEHOLDER = re.compile(r"%\([A-Za-z_][A-Za-z0-9_]*\)[sd]|%[sd]")


def messages(domain):
    """The translatable entries of the Indonesian catalogue (polib leaves the header out; the
    obsolete #~ entries are left out here)."""
    path = LOCALE_ID / f"{domain}.po"
    assert path.exists(), f"{path} is missing: run `make messages`"
    return [entry for entry in polib.pofile(str(path)) if not entry.obsolete]


def msgstrs(entry):
    """The translation: one item, or one per plural form."""
    if entry.msgid_plural:
        return [entry.msgstr_plural[k] for k in sorted(entry.msgstr_plural)]
    return [entry.msgstr]


def label(entry):
    return f"line {entry.linenum}: {entry.msgid!r}"


@pytest.fixture
def client(db):
    return Client()


def test_login_page_is_indonesian_by_default(client):
    page = client.get(LOGIN).content.decode()
    assert '<html lang="id">' in page
    assert "Masuk" in page
    assert "Sign in" not in page


def test_language_cookie_switches_to_english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get(LOGIN).content.decode()
    assert '<html lang="en">' in page
    assert "Sign in" in page
    assert "Masuk" not in page


def test_set_language_view_switches_to_english(client):
    answer = client.post("/i18n/setlang/", {"language": "en", "next": LOGIN})
    assert answer.status_code == 302
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    page = client.get(LOGIN).content.decode()
    assert "Sign in" in page
    assert "Masuk" not in page


def catalog_contains(body, text):
    # JavaScriptCatalog writes the catalogue with json.dumps, which escapes non-ASCII.
    return json.dumps(text)[1:-1] in body or text in body


def test_javascript_catalogue_is_indonesian(client):
    body = client.get("/jsi18n/").content.decode()
    assert catalog_contains(body, CONNECTION_LOST_ID)


def test_javascript_catalogue_in_english_has_no_indonesian(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    body = client.get("/jsi18n/").content.decode()
    assert not catalog_contains(body, CONNECTION_LOST_ID)


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_indonesian_message_is_translated(domain):
    entries = messages(domain)
    assert entries, f"{domain}.po has no messages"
    untranslated = [label(e) for e in entries if not all(s.strip() for s in msgstrs(e))]
    fuzzy = [label(e) for e in entries if "fuzzy" in e.flags]
    assert not untranslated, f"untranslated in {domain}.po: {untranslated}"
    assert not fuzzy, f"fuzzy in {domain}.po: {fuzzy}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_translations_keep_their_placeholders(domain):
    wrong = [
        label(e)
        for e in messages(domain)
        for s in msgstrs(e)
        if sorted(PLACEHOLDER.findall(s)) != sorted(PLACEHOLDER.findall(e.msgid))
    ]
    assert not wrong, f"placeholders differ in {domain}.po: {wrong}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_compiled_catalogue_matches_po(domain):
    """Django's own loading of the committed .mo gives every msgstr of the .po: a .po edited
    without `compilemessages` fails here (as does an app catalogue shadowing ours)."""
    translation = trans_real.DjangoTranslation("id", domain=domain)
    stale = []
    for entry in messages(domain):
        key = entry.msgid
        if entry.msgctxt is not None:
            key = f"{entry.msgctxt}\x04{key}"
        if entry.msgid_plural:
            got = [translation.ngettext(key, entry.msgid_plural, n) for n in (1, 2)]
            expected = [msgstrs(entry)[0], msgstrs(entry)[-1]]
        else:
            got, expected = translation.gettext(key), entry.msgstr
        if got != expected:
            stale.append(f"{label(entry)} → {got!r}, .po says {expected!r}")
    assert not stale, f"locale/id/LC_MESSAGES/{domain}.mo is stale: {stale}"


def test_known_strings_through_the_public_api():
    from django.utils import translation

    with translation.override("id"):
        assert translation.gettext("Sign in") == "Masuk"
        assert translation.gettext("Acknowledge") == "Terima"
        assert translation.gettext("Command centre") == "Pusat Komando"
    with translation.override("en"):
        assert translation.gettext("Sign in") == "Sign in"


@pytest.mark.skipif(not shutil.which("msgfmt"), reason="GNU gettext (msgfmt) is not installed")
@pytest.mark.parametrize("domain", DOMAINS)
def test_po_compiles_cleanly_with_msgfmt(domain, tmp_path):
    po, mo = LOCALE_ID / f"{domain}.po", tmp_path / f"{domain}.mo"
    result = subprocess.run(
        ["msgfmt", "--check", "-o", str(mo), str(po)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
