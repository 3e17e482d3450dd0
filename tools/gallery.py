"""The gallery of a run: one HTML page, one row per notebook with its key figure as a thumbnail.

``tools/notebooks.py run`` (``make run``) and ``tools/notebooks.py index DIR`` write it as
DIR/index.html. The page is static (no script, no outside resources): open it from disk in any
browser. Every text is escaped; image and notebook links are relative, so a run folder can be moved
or zipped whole.
"""

from __future__ import annotations

import datetime as dt
from html import escape

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: 0.5em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
img.thumb { width: 240px; border: 1px solid #ccc; }
td.verdict { font-weight: bold; white-space: nowrap; }
tr.holds td.verdict { color: #1a7f37; }
tr.partly td.verdict { color: #9a6700; }
tr.does-not-hold td.verdict { color: #cf222e; }
tr.inconclusive-at-this-scale td.verdict { color: #57606a; }
td.runtime { white-space: nowrap; }
"""


def row(entry: dict[str, str]) -> str:
    """One notebook's table row (``entry`` from ``tools/notebooks.py gallery_entry``)."""
    name = escape(entry["name"])
    verdict = entry["verdict"]
    thumb = (
        f'<a href="{escape(entry["thumbnail"])}"><img class="thumb" src="{escape(entry["thumbnail"])}" '
        f'alt="key figure of {name}"></a>'
        if entry["thumbnail"]
        else "no figure"
    )
    return (
        f'<tr class="notebook {escape(verdict.replace(" ", "-"))}" data-notebook="{name}">'
        f'<td class="name"><a href="{escape(entry["link"])}">{name}</a></td>'
        f'<td class="figure">{thumb}</td>'
        f'<td class="claim">{escape(entry["claim"])}</td>'
        f'<td class="measured">{escape(entry["measured"])}</td>'
        f'<td class="verdict">{escape(verdict)}</td>'
        f'<td class="replicates">{escape(entry.get("replicates", "—"))}</td>'
        f'<td class="runtime">{escape(entry["runtime"])}</td></tr>'
    )


def render(entries: list[dict[str, str]], title: str) -> str:
    """The whole page: a heading, the date, and the table of ``entries``."""
    rows = "\n".join(row(e) for e in entries)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{escape(title)}</h1>
<p>{dt.datetime.now():%Y-%m-%d %H:%M}, {len(entries)} notebooks. Each row: the notebook's key figure,
the paper's claim, what this run measured (mean ± standard deviation over replicates), whether the claim
holds at this scale, how many replicates (independent seeds) the verdict rests on, and the runtime.</p>
<table>
<thead><tr><th>notebook</th><th>key figure</th><th>claim</th><th>we measured</th><th>holds?</th>
<th>replicates</th><th>runtime</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</body>
</html>
"""


def render_sweep(
    title: str,
    intro: str,
    table: str,
    figures: list[str],
    columns: list[str],
    rows: list[dict[str, str]],
    notes: list[str] = (),
) -> str:
    """The page of a parameter sweep (``tools/sweep.py`` writes it as OUT/index.html).

    ``table`` links the tidy table (CSV), ``figures`` are the per-parameter figures (PNG, relative
    paths), ``columns`` the parameters shown for each point. Each row of ``rows`` holds those
    columns and ``status``, ``verdict``, ``measured`` and ``link`` (the point's notebook, or '').
    """
    images = "\n".join(
        f'<p><a href="{escape(f)}"><img class="figure" src="{escape(f)}" alt="{escape(f)}"></a></p>'
        for f in figures
    )
    warnings = "".join(f'<p class="note">{escape(n)}</p>' for n in notes)
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for r in rows:
        cells = "".join(f"<td>{escape(r[c])}</td>" for c in columns)
        status = escape(r["status"])
        if r["link"]:
            status = f'<a href="{escape(r["link"])}">{status}</a>'
        body.append(
            f'<tr class="point {escape(r["verdict"].replace(" ", "-"))}">{cells}'
            f'<td class="status">{status}</td><td class="verdict">{escape(r["verdict"])}</td>'
            f'<td class="measured">{escape(r["measured"])}</td></tr>'
        )
    rows_html = "\n".join(body)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(title)}</title>
<style>{STYLE} img.figure {{ max-width: 100%; }} p.note {{ color: #cf222e; }}</style>
</head>
<body>
<h1>{escape(title)}</h1>
<p>{dt.datetime.now():%Y-%m-%d %H:%M}. {escape(intro)} Every point's parameters, seed, status and
every number of its results.json: <a href="{escape(table)}">{escape(table)}</a>.</p>
{warnings}
{images}
<table>
<thead><tr>{head}<th>status (notebook)</th><th>holds?</th><th>we measured</th></tr></thead>
<tbody>
{rows_html}
</tbody>
</table>
</body>
</html>
"""
