"""A self-contained HTML report from an executed notebook: text, tables and images inline, no code.

The page is for a risk manager: the verdict banner (the outputs of the cell
tagged ``banner``) comes first under the title, then each section's text,
tables and pictures; the code stays in the executed notebook beside the page.
nbconvert would do this too, but brings a template stack (jinja2, mistune,
bleach, pandocfilters...) for one static page; this is the subset our notebooks
produce. Markdown is shown as paragraphs except headings.
"""

from __future__ import annotations

import html
import re
from typing import Any

BANNER_TAG = "banner"  # the cell whose outputs open the page

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
pre{background:#f6f8fa;padding:.6em;overflow-x:auto;font-size:13px}
.out{overflow-x:auto}.out pre{background:#fff;border-left:3px solid #ddd;white-space:pre-wrap;overflow-wrap:anywhere}
.err pre{background:#fff0f0;border-left:3px solid #c00}
.cell{margin:1em 0}.n{color:#888;font-size:12px}
table{border-collapse:collapse;font-size:13px;margin:.4em 0}td,th{border-bottom:1px solid #e3e3e3;padding:3px 10px;text-align:left}
th{background:#f3f4f6;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:600;padding:.3em 0}.more,.empty{color:#666;font-size:13px}
.figures{display:flex;flex-wrap:wrap;gap:1.6em;margin:.6em 0}.figure{font-size:13px;color:#444}
.figure b{font-size:20px;color:#111}.gates{margin:.3em 0;font-size:13px}
img{max-width:100%}
"""


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _markdown(source: str) -> str:
    parts = []
    for block in source.split("\n\n"):
        heading = re.match(r"^(#{1,6})\s+(.*)$", block.strip())
        if heading and "\n" not in block.strip():
            level = len(heading.group(1))
            parts.append(f"<h{level}>{html.escape(heading.group(2))}</h{level}>")
        elif block.strip():
            parts.append(f"<p>{html.escape(block)}</p>")
    return "\n".join(parts)


def _output(output: dict[str, Any]) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return f'<div class="out"><pre>{html.escape(_text(output.get("text", "")))}</pre></div>'
    if kind == "error":
        trace = _ANSI.sub("", "\n".join(output.get("traceback", [])))
        return f'<div class="err"><pre>{html.escape(trace)}</pre></div>'
    data = output.get("data", {})
    if "image/png" in data:
        return f'<div class="out"><img src="data:image/png;base64,{_text(data["image/png"]).strip()}"></div>'
    if "text/html" in data:
        return f'<div class="out">{_text(data["text/html"])}</div>'
    if "text/plain" in data:
        return f'<div class="out"><pre>{html.escape(_text(data["text/plain"]))}</pre></div>'
    return ""


def render_html(notebook: Any, title: str) -> str:
    """The report for an executed notebook (an nbformat node or plain dict): banner first, no code cells' source."""
    cells = notebook["cells"]
    first = [cell for cell in cells if BANNER_TAG in _tags(cell)]
    body = [f"<h1>{html.escape(title)}</h1>"]
    for cell in first + [cell for cell in cells if cell not in first]:
        if cell["cell_type"] == "markdown":
            body.append(f'<div class="cell">{_markdown(_text(cell.get("source", "")))}</div>')
        elif cell["cell_type"] == "code" and "parameters" not in _tags(cell):
            outputs = "".join(_output(o) for o in cell.get("outputs", []))
            if outputs:
                body.append(f'<div class="cell">{outputs}</div>')
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>\n")
