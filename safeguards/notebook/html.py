"""A self-contained HTML page from an executed notebook: code, text, tables and images inline.

nbconvert would do this too, but brings a template stack (jinja2, mistune,
bleach, pandocfilters...) for one static page; this is the subset our notebooks
produce. Markdown is shown as preformatted text except headings.
"""

from __future__ import annotations

import html
import re
from typing import Any

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
pre{background:#f6f8fa;padding:.6em;overflow-x:auto;font-size:13px}
.out pre{background:#fff;border-left:3px solid #ddd}
.err pre{background:#fff0f0;border-left:3px solid #c00}
.cell{margin:1em 0}.n{color:#888;font-size:12px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:2px 6px}
img{max-width:100%}
"""


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
    """The page for an executed notebook (an nbformat node or plain dict)."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    for cell in notebook["cells"]:
        source = _text(cell.get("source", ""))
        if cell["cell_type"] == "markdown":
            body.append(f'<div class="cell">{_markdown(source)}</div>')
        elif cell["cell_type"] == "code":
            count = cell.get("execution_count")
            tags = ", ".join(cell.get("metadata", {}).get("tags", []))
            head = f'<div class="n">[{count if count is not None else " "}] {html.escape(tags)}</div>'
            outputs = "".join(_output(o) for o in cell.get("outputs", []))
            body.append(f'<div class="cell">{head}<pre>{html.escape(source)}</pre>{outputs}</div>')
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>\n")
