"""Fill the es/en catalogues with the accounts/dashboard translations (accounts-es.json).

Usage, once mapservice/translations/ exists: python docs/i18n/merge_accounts_catalog.py . && make translations
"""
import json, sys
from pathlib import Path
from babel.messages.pofile import read_po, write_po

root = Path(sys.argv[1])
es = json.load(open(Path(__file__).with_name("accounts-es.json"), encoding="utf-8"))
for lang in ("es", "en"):
    path = root / "mapservice/translations" / lang / "LC_MESSAGES/messages.po"
    with open(path, "rb") as f:
        cat = read_po(f, locale=lang)
    changed = 0
    for msgid, spanish in es.items():
        want = spanish if lang == "es" else msgid
        m = cat.get(msgid)
        if m is None:
            cat.add(msgid, want)
            changed += 1
        elif not m.string or m.fuzzy:
            m.string = want
            m.flags.discard("fuzzy")
            changed += 1
    with open(path, "wb") as f:
        write_po(f, cat, sort_output=True, omit_header=False, no_location=True, width=0)
    print(lang, "filled", changed)
