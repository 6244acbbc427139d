"""Render the rule table as ``docs/layers.md``.

``python -m cnnshape_ls.analysis.layers.docs`` writes the page (``--output PATH`` writes
PATH instead); ``tests/test_layers_doc.py`` fails when the page and the table disagree.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import ALL_RULES, FUNCTIONAL, REPARAMETRISATIONS
from .base import UNKNOWN, LayerRule

PAGE = Path(__file__).resolve().parents[3] / "docs" / "layers.md"

INTRO = """\
# Layer shape rules

Every `torch.nn` layer the analyzer knows, grouped by family: its constructor as the
analyzer binds it (positional order and defaults, as in torch), how the output shape
follows from the input, and how many parameters the layer has.

Generated from the rule table in `cnnshape_ls/analysis/layers/` by
`python -m cnnshape_ls.analysis.layers.docs`; do not edit by hand. Each rule is checked
against torch itself by `tests/test_rules_torch*.py`.
"""


def signature(rule: LayerRule) -> str:
    """``Conv2d(in_channels, out_channels, kernel_size, stride=1, ...)``."""
    parts = []
    for name in rule.signature:
        if name in rule.defaults and rule.defaults[name] is not UNKNOWN:
            parts.append(f"{name}={rule.defaults[name]!r}")
        else:
            parts.append(name)
    return f"{rule.op}({', '.join(parts)})"


def _cell(text: str) -> str:
    return "`" + text.replace("|", "\\|") + "`"


def families() -> dict[str, list[LayerRule]]:
    """The rules by family, families in table order."""
    grouped: dict[str, list[LayerRule]] = {}
    for rule in ALL_RULES:
        grouped.setdefault(rule.family, []).append(rule)
    return grouped


def render_layers_markdown() -> str:
    grouped = families()
    lines = [INTRO, f"{len(ALL_RULES)} layers in {len(grouped)} families: "
             + ", ".join(f"[{family}](#{family.lower()})" for family in grouped) + ".", ""]
    for family, rules in grouped.items():
        lines += [f"## {family}", "", "| Layer | Constructor | Output shape | Parameters |",
                  "|---|---|---|---|"]
        for rule in rules:
            lines.append(f"| `{rule.op}` | {_cell(signature(rule))} | {_cell(rule.formula)} | "
                         f"{_cell(rule.params_text)} |")
        lines.append("")
    return "\n".join(lines + functional_section())


def functional_section() -> list[str]:
    """``F.*`` calls and layer wrappers that use the rules above (each rule's ``functional``)."""
    lines = ["## Functional forms and wrappers", "",
             "| Call | Shape rule |", "|---|---|"]
    for name, (rule, form) in FUNCTIONAL.items():
        if not form.weighted:
            lines.append(f"| `F.{name}` | `{rule.op}` |")
    for name, (rule, form) in FUNCTIONAL.items():
        if form.weighted:
            lines.append(f"| `F.{name}(input, weight, ...)` | `{rule.op}`, sizes from the weight's shape |")
    for name in REPARAMETRISATIONS:
        extra = "; adds `weight_g` to the parameters" if name == "weight_norm" else ""
        lines.append(f"| `torch.nn.utils[.parametrizations].{name}(layer)` | the layer's own{extra} |")
    lines += ["", "A class that extends a layer (`class MaskedConv2d(nn.Conv2d)`) gets that layer's arguments, "
              "`weight` and `bias` from `super().__init__`, and its rule when it has no `forward` of its own.", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnshape_ls.analysis.layers.docs",
                                     description="Write the table of supported layers (docs/layers.md).")
    parser.add_argument("--output", "-o", metavar="PATH", type=Path, default=PAGE,
                        help=f"where to write the page (default: {PAGE})")
    path = parser.parse_args(argv).output
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_layers_markdown(), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
