"""Bahasa Indonesia by default, English on request; and the committed catalogues are complete and
compiled. When a new source string fails these tests, run `make messages`, translate the empty
msgstr in locale/id/LC_MESSAGES/*.po and run `make messages` again to compile."""

import ast
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils.translation import trans_real

LOCALE_ID = Path(settings.BASE_DIR) / "locale" / "id" / "LC_MESSAGES"
DOMAINS = ("django", "djangojs")
LOGIN = "/accounts/login/"
CONNECTION_LOST_ID = "Terputus — menyambung ulang…"
PLACEHOLDER = re.compile(r"%\([A-Za-z_][A-Za-z0-9_]*\)[sd]|%[sd]")


def parse_po(path):
    """The entries of a .po file: dicts with msgctxt, msgid, msgid_plural, msgstr (a list:
    one item, or one per plural form), flags and line. Obsolete (#~) entries are left out;
    the header (msgid "") is kept. Standard library only: polib is not a dependency."""
    entries, entry, field = [], None, None

    def finish():
        if entry is not None and "msgid" in entry:
            entries.append(entry)

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            continue
        if line.startswith("#"):
            if entry is not None and "msgid" in entry and field is not None:
                finish()
                entry, field = None, None
            if entry is None:
                entry = {"flags": set(), "msgstr": {}, "line": number}
            if line.startswith("#,"):
                entry["flags"].update(flag.strip() for flag in line[2:].split(","))
            continue
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            value, target = ast.literal_eval(line), field
        else:
            value, target = ast.literal_eval(rest), keyword
            if keyword in ("msgctxt", "msgid") and entry is not None and "msgid" in entry:
                finish()
                entry = None
            if entry is None:
                entry = {"flags": set(), "msgstr": {}, "line": number}
            field = keyword
        if target.startswith("msgstr"):
            index = int(target[7:-1]) if target.startswith("msgstr[") else 0
            entry["msgstr"][index] = entry["msgstr"].get(index, "") + value
        else:
            entry[target] = entry.get(target, "") + value
    finish()
    for item in entries:
        item["msgstr"] = [item["msgstr"][k] for k in sorted(item["msgstr"])]
    return entries


def messages(domain):
    """The translatable entries of the Indonesian catalogue (the header left out)."""
    path = LOCALE_ID / f"{domain}.po"
    assert path.exists(), f"{path} is missing: run `make messages`"
    return [entry for entry in parse_po(path) if entry["msgid"]]


def label(entry):
    return f"line {entry['line']}: {entry['msgid']!r}"


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


def test_po_parser_reads_plurals_context_and_continuations(tmp_path):
    po = tmp_path / "x.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: id\\n"\n\n'
        '#, fuzzy, python-format\nmsgctxt "verb"\nmsgid "Call %(n)s"\nmsgstr "Panggil %(n)s"\n\n'
        'msgid "one"\nmsgid_plural "many"\nmsgstr[0] ""\n"banyak"\n\n'
        '#~ msgid "gone"\n#~ msgstr "hilang"\n',
        encoding="utf-8",
    )
    header, first, second = parse_po(po)
    assert header["msgid"] == "" and header["msgstr"] == ["Language: id\n"]
    assert first["msgctxt"] == "verb" and first["flags"] == {"fuzzy", "python-format"}
    assert first["msgstr"] == ["Panggil %(n)s"]
    assert second["msgid_plural"] == "many" and second["msgstr"] == ["banyak"]


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_indonesian_message_is_translated(domain):
    entries = messages(domain)
    assert entries, f"{domain}.po has no messages"
    untranslated = [label(e) for e in entries if not all(s.strip() for s in e["msgstr"])]
    fuzzy = [label(e) for e in entries if "fuzzy" in e["flags"]]
    assert not untranslated, f"untranslated in {domain}.po: {untranslated}"
    assert not fuzzy, f"fuzzy in {domain}.po: {fuzzy}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_translations_keep_their_placeholders(domain):
    wrong = [
        label(e)
        for e in messages(domain)
        for s in e["msgstr"]
        if sorted(PLACEHOLDER.findall(s)) != sorted(PLACEHOLDER.findall(e["msgid"]))
    ]
    assert not wrong, f"placeholders differ in {domain}.po: {wrong}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_compiled_catalogue_matches_po(domain):
    """Django's own loading of the committed .mo gives every msgstr of the .po: a .po edited
    without `compilemessages` fails here (as does an app catalogue shadowing ours)."""
    translation = trans_real.DjangoTranslation("id", domain=domain)
    stale = []
    for entry in messages(domain):
        key = entry["msgid"]
        if "msgctxt" in entry:
            key = f"{entry['msgctxt']}\x04{key}"
        if "msgid_plural" in entry:
            got = [translation.ngettext(key, entry["msgid_plural"], n) for n in (1, 2)]
            expected = [entry["msgstr"][0], entry["msgstr"][-1]]
        else:
            got, expected = translation.gettext(key), entry["msgstr"][0]
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
