"""Self-contained HTML reports of ``ubm leaderboard --html FILE`` and ``ubm ablate``
(``A/ablation.html``): the same numbers as the JSON, as tables, with the plots embedded as
base64 ``data:`` PNGs and the CSS inline. No script, no link, no font or image from anywhere:
the file opens offline, mailed or copied anywhere, and shows what the terminal showed.

Built from the JSON dicts the commands write (``to_json`` of the leaderboard, ``ablation.json``),
so the page cannot say a number the JSON does not. One tiny Jinja template with autoescape:
every value from the data (run names, task names, reasons) is escaped; only the base64 of our
own PNGs goes into an attribute unescaped-by-construction (it is ASCII letters, digits, +/=).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from ubm.util import atomic_path

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 80em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
p.note { color: #555; font-size: 0.9em; } img { max-width: 100%; border: 1px solid #eee; }
footer { margin-top: 3em; color: #888; font-size: 0.8em; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
{% for line in intro %}<p>{{ line }}</p>
{% endfor %}
{% for s in sections %}<section>
<h2>{{ s.title }}</h2>
{% for note in s.notes %}<p class="note">{{ note }}</p>
{% endfor %}{% if s.table %}<table>
<thead><tr>{% for h in s.table.header %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in s.table.rows %}<tr>{% for c in row %}<td{% if loop.index0 in s.table.numeric %} class="num"{% endif %}>{{ c }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table>
{% endif %}{% if s.image %}<p><img alt="{{ s.title }}" src="data:image/png;base64,{{ s.image }}"></p>
{% endif %}</section>
{% endfor %}<footer>{{ footer }}</footer>
</body>
</html>
"""

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]
    numeric: frozenset[int] = frozenset()  # column indices aligned right


@dataclass(frozen=True)
class Section:
    title: str
    table: Table | None = None
    notes: list[str] = field(default_factory=list)
    image: bytes | None = None  # PNG


def render(title: str, sections: list[Section], intro: list[str] | None = None) -> str:
    """The page: a title, intro paragraphs, then each section's notes, table and image."""
    from ubm.ownership import version

    shown = [{"title": s.title, "table": s.table, "notes": s.notes,
              "image": base64.b64encode(s.image).decode("ascii") if s.image else None} for s in sections]
    return _ENV.from_string(_TEMPLATE).render(
        title=title, intro=intro or [], sections=shown,
        footer=f"written by ubm {version()}; self-contained: no script, no network")


def write_html(path: Path, text: str, option: str) -> Path:
    """Written to a marked scratch beside ``path`` and renamed: never half a page."""
    with atomic_path(Path(path), option) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def _f(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "-"
    return f"{x:+.4f}" if signed else f"{x:.4f}"


def _said(d: dict) -> str:
    return d["verdict"] if d["verdict"] == "not distinguishable" else f"{d['first']} {d['verdict']}"


# -- the leaderboard -------------------------------------------------------------------------

def leaderboard_sections(data: dict, forest: bytes | None = None, notes: list[str] | None = None) -> list[Section]:
    """``data``: the leaderboard's JSON (``ubm.evaluation.leaderboard.to_json``)."""
    tasks, unofficial = data["tasks"], data.get("unofficial") or {}
    rows = []
    for name in data["order"]:
        row = [str(data["positions"][name]), f"{name} [unofficial]" if name in unofficial else name,
               f"{data['totals'][name]:g}"]
        for task in tasks:
            per = data["per_task"][task]
            row.append(f"{_f(per['scores'][name])} ({per['points'][name]:g})")
        rows.append(row)
    board = Section("Borda count", Table(["#", "run", "points"] + tasks, rows, frozenset(range(3, 3 + len(tasks)))
                                         | {0, 2}),
                    ["score (points) per task: rank k of N earns N-k points; ties share the average of their "
                     "places' points."] + [f"UNOFFICIAL {n}: {'; '.join(r)}" for n, r in unofficial.items()])
    sections = [board]
    ci = data.get("ci")
    if ci:
        pct = f"{ci['level'] * 100:g} %"
        rows = [[task, name, _f(iv["point"]), _f(iv["low"]), _f(iv["high"]), _f(iv["high"] - iv["low"])]
                for task in tasks for name in data["order"]
                if (iv := ci["intervals"].get(name, {}).get(task)) is not None]
        sections.append(Section(f"{pct} bootstrap intervals", Table(
            ["task", "run", "score", "low", "high", "width"], rows, frozenset({2, 3, 4, 5})),
            [f"{ci['resamples']:,} resamples of the evaluated clients, seed {ci['seed']}; score recomputed from "
             "the stored validation outputs (unrounded)."]))
        if ci["differences"]:
            rows = [[d["task"], f"{d['first']} - {d['second']}", _f(d["point"], True), _f(d["low"], True),
                     _f(d["high"], True), _said(d)] for d in ci["differences"]]
            sections.append(Section("Paired differences", Table(
                ["task", "pair", "difference", "low", "high", "verdict"], rows, frozenset({2, 3, 4})),
                [f"first minus second on the same resampled clients ({pct} interval); an interval that excludes "
                 "0 is a difference the resampling of clients does not explain."], forest))
    seeded = data.get("ci_seeds")
    if seeded:
        sections += _seeded_sections(seeded, tasks, data["order"])
    if notes:
        sections.append(Section("Notes", notes=list(notes)))
    return sections


def _seeded_sections(seeded: dict, tasks: list[str], order: list[str]) -> list[Section]:
    seeds = ", ".join(map(str, seeded["seeds"]))
    rows = [[task, name, _f(s["mean"]), _f(s["sd"]), " ".join(_f(v) for v in s["scores"])]
            for task in tasks for name in order if (s := seeded["spreads"].get(name, {}).get(task)) is not None]
    out = [Section("Training seeds", Table(["task", "run", "mean", "sd", "per seed"], rows, frozenset({2, 3})),
                   [f"seeds {seeds} (the first is official): each task's score per seed"])]
    if seeded["differences"]:
        rows = [[d["task"], f"{d['first']} - {d['second']}", _f(d["point"], True), _f(d["mean"], True),
                 _f(d["low"], True), _f(d["high"], True), _f(d["seed_var"] ** 0.5), _f(d["client_var"] ** 0.5),
                 d["dominant"], _said(d)] for d in seeded["differences"]]
        out.append(Section("Paired over seeds and clients", Table(
            ["task", "pair", "official", "mean", "low", "high", "seed sd", "client sd", "dominates", "verdict"],
            rows, frozenset({2, 3, 4, 5, 6, 7})),
            ["seed k of one run against seed k of the other, clients resampled within each pair; seed sd: spread "
             "of the seed pairs' differences, client sd: of the resampled clients within a pair; the larger "
             "dominates."]))
    return out


def leaderboard_html(data: dict, forest: bytes | None = None, notes: list[str] | None = None) -> str:
    return render("ubm leaderboard", leaderboard_sections(data, forest, notes),
                  [f"{len(data['order'])} runs over {len(data['tasks'])} tasks, best first."])


# -- the ablation ----------------------------------------------------------------------------

def ablation_sections(data: dict, heatmaps: dict[str, bytes] | None = None) -> list[Section]:
    """``data``: ``A/ablation.json``; ``heatmaps``: mode ("without", "only") -> PNG."""
    from ubm.evaluation.ablation import Effect, _said as said

    heatmaps = heatmaps or {}
    pct = f"{data['level'] * 100:g} %"
    blocks = Section("Blocks", Table(["block", "parts", "columns", "build s"],
                                     [[b["name"], ", ".join(b["parts"]), str(b["columns"]), f"{b['seconds']:.1f}"]
                                      for b in data["blocks"]], frozenset({2, 3})),
                     [f"{data['zeroed']}."])
    out = [blocks]
    for mode, what in (("without", "full minus the entry without the block (> 0: the block helps)"),
                       ("only", "the block alone minus the full entry")):
        chosen = [e for e in data["effects"] if e["mode"] == mode]
        if not chosen:
            continue
        rows = [[e["block"], e["task"], _f(e["full"]), _f(e["variant"]), _f(e["point"], True), _f(e["low"], True),
                 _f(e["high"], True), said(Effect(**e)), e["dominant"]] for e in chosen]
        out.append(Section(f"Change per task: {mode}", Table(
            ["block", "task", "full", "variant", "change", "low", "high", "verdict", "dominates"], rows,
            frozenset({2, 3, 4, 5, 6})),
            [f"{what}; {pct} paired intervals over {data['resamples']:,} resamples of the clients"
             + (f", seeds {', '.join(map(str, data['seeds']))} paired" if len(data["seeds"]) > 1 else "") + "."],
            heatmaps.get(mode)))
    variants = list(data["scores"])
    rows = [[task] + [_f(data["scores"][v].get(task)) for v in variants] for task in data["tasks"]]
    out.append(Section("Official scores per variant", Table(["task"] + variants, rows,
                                                             frozenset(range(1, 1 + len(variants))))))
    return out


def ablation_html(data: dict, heatmaps: dict[str, bytes] | None = None) -> str:
    return render(f"ubm ablate: recipe {data['recipe']}", ablation_sections(data, heatmaps),
                  [f"tasks: {', '.join(data['tasks'])}; which block earns its columns."])
