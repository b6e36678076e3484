"""Write the parameter table's tooltips, ranges and defaults into the panel's .ui file.

The table (UnsupervisedCTSegLib.slicer.parameters, made from the engine's Settings) is the one
source; Testing/test_ui_binding.py fails when the .ui disagrees with it, and this script brings the
.ui back in line after a setting's help or range changed:

    python tools/sync_ui.py
"""
import html
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "UnsupervisedCTSeg"))

from UnsupervisedCTSegLib.slicer.parameters import PARAMETERS  # noqa: E402

UI_FILE = REPO / "UnsupervisedCTSeg" / "Resources" / "UI" / "UnsupervisedCTSeg.ui"


def number(kind, value) -> str:
    return f"<number>{int(value)}</number>" if kind is int else f"<double>{float(value):.15f}</double>"


def sync(text: str) -> str:
    for p in PARAMETERS:
        bound = re.search(r'(<widget class="[^"]+" name="[^"]+">)((?:(?!<widget ).)*?)<property name="SlicerParameterName" '
                          rf'stdset="0">\s*<string>{p.name}</string>', text, re.DOTALL)
        assert bound, f"no widget bound to {p.name}"
        body = bound.group(2)
        new = re.sub(r'(<property name="toolTip">\s*<string>).*?(</string>)',
                     lambda m: m.group(1) + html.escape(p.tooltip, quote=False) + m.group(2), body, count=1, flags=re.DOTALL)
        if p.kind in (int, float) and not p.choices:
            for key, value in (("minimum", p.minimum), ("maximum", p.maximum), ("value", p.default)):
                new = re.sub(rf'(<property name="{key}">\s*)<(number|double)>[^<]*</\2>',
                             lambda m: m.group(1) + number(p.kind, value), new, count=1)
        text = text[:bound.start(2)] + new + text[bound.end(2):]
    return text


if __name__ == "__main__":
    UI_FILE.write_text(sync(UI_FILE.read_text(encoding="utf-8")), encoding="utf-8")
