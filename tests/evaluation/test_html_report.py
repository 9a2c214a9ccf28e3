"""Self-contained HTML reports (ubm.evaluation.html_report): well-formed, nothing fetched from
anywhere, every image a data: URI, the tables holding the JSON's numbers, data escaped.

No headless browser exists on the test machine, so rendering is checked by parsing: the stdlib
parser sees every tag, attribute and cell as a browser's tokenizer would."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ubm.cli import main
from ubm.evaluation.html_report import ablation_html, leaderboard_html
from ubm.evaluation.leaderboard import leaderboard, to_json
from ubm.evaluation.significance import Comparison, Interval, Predictions, compare, write_predictions

VOID = {"meta", "img", "br", "hr", "link", "input"}
PNG = b"\x89PNG\r\n\x1a\n"
NASTY = "a<b>&\"x'$\\frac{$"  # a run name shown as text: never markup, nor matplotlib's mathtext


class Page(HTMLParser):
    """Tags nested and closed (void ones excepted), attributes, and each table's cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.tables: list[list[list[str]]] = []
        self.text: list[str] = []
        self.css = ""
        self._cell: list[str] | None = None
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in VOID:
            return
        self.stack.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        assert tag not in VOID, f"</{tag}>"
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None
        self._in_style = False

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._in_style:
            self.css += data


def parse(text: str) -> Page:
    assert text.startswith("<!DOCTYPE html>")
    page = Page()
    page.feed(text)
    page.close()
    assert page.stack == [], f"unclosed: {page.stack}"
    return page


def assert_self_contained(page: Page) -> list[bytes]:
    """Nothing a viewer would fetch; returns the embedded images' bytes."""
    images = []
    for tag, attrs in page.tags:
        assert tag not in ("script", "link", "iframe", "object", "embed"), tag
        for key, value in attrs.items():
            assert not key.startswith("on"), key  # no inline handlers either
            if key in ("src", "href", "srcset", "action", "data"):
                assert tag == "img" and key == "src" and value.startswith("data:image/png;base64,"), (tag, key, value)
        if tag == "img":
            images.append(base64.b64decode(attrs["src"].split(",", 1)[1], validate=True))
    assert "url(" not in page.css and "@import" not in page.css
    return images


def table_with(page: Page, header: list[str]) -> list[list[str]]:
    (table,) = [t for t in page.tables if t and t[0] == header]
    return table[1:]


# -- hand-made dicts -------------------------------------------------------------------------

def _board_data() -> dict:
    board = leaderboard({NASTY: {"churn": 0.75, "propensity_sku": 0.6}, "plain": {"churn": 0.7}})
    comparison = Comparison(resamples=10, level=0.9, seed=0, blocks=1000,
                            intervals={NASTY: {"churn": Interval(0.74987, 0.7012, 0.8)},
                                       "plain": {"churn": Interval(0.70004, 0.65, 0.7501)}})
    from ubm.evaluation.significance import Difference

    comparison.differences.append(Difference("churn", NASTY, "plain", 0.04983, -0.0123, 0.1, "not distinguishable"))
    return json.loads(to_json(board, comparison=comparison, unofficial={"plain": ["--fast: TF32 & <bf16>"]}))


def test_leaderboard_page_is_well_formed_self_contained_and_holds_the_json_numbers():
    data = _board_data()
    text = leaderboard_html(data, forest=PNG + b"fake", notes=["why <not>"])
    page = parse(text)
    assert assert_self_contained(page) == [PNG + b"fake"]
    rows = table_with(page, ["#", "run", "points", "churn", "propensity_sku"])
    assert rows == [["1", NASTY, "2", "0.7500 (1)", "0.6000 (1)"],
                    ["2", "plain [unofficial]", "0", "0.7000 (0)", "- (0)"]]
    intervals = table_with(page, ["task", "run", "score", "low", "high", "width"])
    for row in intervals:
        iv = data["ci"]["intervals"][row[1]][row[0]]
        assert row[2:] == [f"{iv['point']:.4f}", f"{iv['low']:.4f}", f"{iv['high']:.4f}",
                           f"{iv['high'] - iv['low']:.4f}"]
    assert [r[1] for r in intervals] == [NASTY, "plain"]
    (diff,) = table_with(page, ["task", "pair", "difference", "low", "high", "verdict"])
    assert diff == ["churn", f"{NASTY} - plain", "+0.0498", "-0.0123", "+0.1000", "not distinguishable"]
    shown = "".join(page.text)
    assert "UNOFFICIAL plain: --fast: TF32 & <bf16>" in shown and "why <not>" in shown
    # escaped in the source: no tag or attribute can come from a name
    assert "<b>" not in text and "<bf16>" not in text and "<not>" not in text
    assert "a&lt;b&gt;&amp;&#34;x&#39;" in text


def test_seeded_sections_show_each_seed_and_which_source_dominates():
    data = _board_data()
    data["ci_seeds"] = {"seeds": [1278, 1279], "spreads": {NASTY: {"churn": {"scores": [0.75, 0.72], "mean": 0.735,
                                                                              "sd": 0.0212}}},
                        "differences": [{"task": "churn", "first": NASTY, "second": "plain", "point": 0.05,
                                         "mean": 0.03, "low": -0.01, "high": 0.07, "seed_var": 0.0004,
                                         "client_var": 0.0001, "verdict": "better", "dominant": "seeds"}]}
    page = parse(leaderboard_html(data))
    assert assert_self_contained(page) == []  # no forest given, no image
    assert table_with(page, ["task", "run", "mean", "sd", "per seed"]) == [
        ["churn", NASTY, "0.7350", "0.0212", "0.7500 0.7200"]]
    (row,) = table_with(page, ["task", "pair", "official", "mean", "low", "high", "seed sd", "client sd",
                               "dominates", "verdict"])
    assert row == ["churn", f"{NASTY} - plain", "+0.0500", "+0.0300", "-0.0100", "+0.0700", "0.0200", "0.0100",
                   "seeds", f"{NASTY} better"]


def _ablation_data() -> dict:
    effect = {"block": "fun<nel>", "mode": "without", "task": "churn", "full": 0.7, "variant": 0.65, "point": 0.05,
              "mean": 0.05, "low": 0.01, "high": 0.09, "verdict": "better", "dominant": "clients", "columns": 4,
              "seconds": 0.25}
    alone = {**effect, "mode": "only", "variant": 0.6, "point": -0.1, "mean": -0.1, "low": -0.2, "high": -0.05,
             "verdict": "worse"}
    return {"recipe": "universal", "options": {}, "tasks": ["churn"], "seeds": [1278], "level": 0.95,
            "resamples": 50, "zeroed": "a variant keeps the entry's width; left-out columns are 0",
            "blocks": [{"name": "fun<nel>", "parts": ["fun<nel>.a", "fun<nel>.b"], "columns": 4, "seconds": 0.25}],
            "scores": {"full": {"churn": 0.7}, "without.fun<nel>": {"churn": 0.65}, "only.fun<nel>": {"churn": 0.6}},
            "effects": [effect, alone]}


def test_ablation_page_holds_the_effects_and_both_heatmaps():
    data = _ablation_data()
    text = ablation_html(data, {"without": PNG + b"1", "only": PNG + b"2"})
    page = parse(text)
    assert assert_self_contained(page) == [PNG + b"1", PNG + b"2"]
    header = ["block", "task", "full", "variant", "change", "low", "high", "verdict", "dominates"]
    without, only = [t[1:] for t in page.tables if t[0] == header]
    assert without == [["fun<nel>", "churn", "0.7000", "0.6500", "+0.0500", "+0.0100", "+0.0900", "helps", "clients"]]
    assert only[0][4:8] == ["-0.1000", "-0.2000", "-0.0500", "alone worse"]
    assert table_with(page, ["block", "parts", "columns", "build s"]) == [
        ["fun<nel>", "fun<nel>.a, fun<nel>.b", "4", "0.2"]]
    assert table_with(page, ["task", "full", "without.fun<nel>", "only.fun<nel>"]) == [
        ["churn", "0.7000", "0.6500", "0.6000"]]
    assert "<nel>" not in text


# -- the command, on hand-made runs (no training) --------------------------------------------

def _preds(rng, labels: np.ndarray, strength: float) -> Predictions:
    logits = (labels * strength + rng.standard_normal(len(labels))).astype(np.float32)[:, None]
    return Predictions(task="churn", kind="binary", client_ids=np.arange(len(labels), dtype=np.int64),
                       logits=logits, labels=labels.astype(np.uint8)[:, None], popularity=None)


def _fake_run(path: Path, per_seed: list[Predictions], seeds: list[int]) -> None:
    (path / "predictions").mkdir(parents=True)
    for s, p in zip(seeds, per_seed):
        write_predictions(path / "predictions" / ("churn.npz" if s == 1278 else f"churn.seed{s}.npz"), p)
    score = compare({"x": {"churn": per_seed[0]}}, resamples=2).intervals["x"]["churn"].point
    (path / "scores.json").write_text(json.dumps({"churn": round(score, 4)}))
    (path / "metrics.json").write_text(json.dumps({
        "official": True, "seeds": seeds, "clients": {"churn": {"n": len(per_seed[0].labels)}},
        "tasks": {"churn": {"best_score": score, "n_clients": len(per_seed[0].labels)}}}))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("html")
    rng = np.random.default_rng(0)
    labels = rng.random(200) < 0.4
    _fake_run(root / "good", [_preds(rng, labels, 1.5), _preds(rng, labels, 1.4)], [1278, 1279])
    _fake_run(root / "weak", [_preds(rng, labels, 0.3), _preds(rng, labels, 0.2)], [1278, 1279])
    return root / "good", root / "weak"


def test_leaderboard_html_holds_what_the_json_says(runs, tmp_path):
    good, weak = runs
    board, page_file = tmp_path / "board.json", tmp_path / "out" / "board.html"
    result = CliRunner().invoke(main, ["leaderboard", str(good), str(weak), "--names", f"{NASTY} good,weak",
                                       "--ci", "--resamples", "50", "--json", str(board), "--html", str(page_file)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data, text = json.loads(board.read_text()), page_file.read_text()
    page = parse(text)
    (forest,) = assert_self_contained(page)
    assert forest.startswith(PNG)
    ivs = table_with(page, ["task", "run", "score", "low", "high", "width"])
    assert len(ivs) == 2
    for task, name, *cells in ivs:
        iv = data["ci"]["intervals"][name][task]
        assert cells[:3] == [f"{iv['point']:.4f}", f"{iv['low']:.4f}", f"{iv['high']:.4f}"]
    (d,) = data["ci_seeds"]["differences"]
    (row,) = table_with(page, ["task", "pair", "official", "mean", "low", "high", "seed sd", "client sd",
                               "dominates", "verdict"])
    assert row[2:5] == [f"{d['point']:+.4f}", f"{d['mean']:+.4f}", f"{d['low']:+.4f}"] and row[8] == d["dominant"]
    assert f"{NASTY} good" in "".join(page.text) and "<b>" not in text
    assert not [p for p in page_file.parent.iterdir() if p.name != "board.html"]  # no scratch left


def test_leaderboard_html_refused_before_any_work(runs, tmp_path):
    good, weak = runs
    base = ["leaderboard", str(good), str(weak), "--ci", "--resamples", "5"]
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("a file, not a folder")
    for extra, words in ((["--html", str(tmp_path / "d")], ["--html", "directory"]),
                         (["--html", str(tmp_path / "x"), "--json", str(tmp_path / "x")], ["--json", "--html"]),
                         (["--html", str(tmp_path / "f" / "x.html")], ["--html", "not a directory"])):
        result = CliRunner().invoke(main, base + extra)
        assert result.exit_code == 2, (extra, result.output)
        assert all(w in result.output for w in words), result.output
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "f"]


def test_train_ci_with_seeds_prints_the_spread_beside_the_interval(runs, monkeypatch, tmp_path):
    # the command's wiring, on a hand-made run: training and its table stubbed out
    import ubm.evaluation.outputs as outputs_mod
    import ubm.evaluation.train as train_mod

    good, _ = runs
    score = json.loads((good / "scores.json").read_text())["churn"]
    seed_scores = {"churn": [score, score - 0.02, score - 0.04]}
    monkeypatch.setattr(train_mod, "evaluate", lambda *a, **k: train_mod.RunResult(
        good, {"churn": score}, {}, [], [1278, 1279, 1280], seed_scores))
    monkeypatch.setattr(outputs_mod, "format_scores", lambda *a, **k: "")
    result = CliRunner().invoke(main, ["train", "--data-dir", str(tmp_path), "--embeddings-dir", str(tmp_path),
                                       "--tasks", "churn", "--out", str(good), "--ci", "--resamples", "20",
                                       "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("churn"))
    assert row.split()[6:9] == ["0.0200", f"{score - 0.04:.4f}", f"{score:.4f}"]  # sd, min, max
    assert "3 training seeds" in result.output
