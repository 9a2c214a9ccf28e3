"""`ubm ablate` end to end on tiny data: one task, one block, tiny hidden sizes (the study's
bookkeeping does not depend on the width). The cost is printed before any work, the variant
entries are the full one with a block's columns zeroed, an interrupted study resumes where it
stopped, and bad input is one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import ubm.evaluation.workers as workers_mod
from tests.fixtures import prepare_tiny
from tests.evaluation.test_html_report import assert_self_contained, parse, table_with
from ubm.cli import main
from ubm.evaluation.ablate import ablate

TINY = (32, 64)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return prepare_tiny(tmp_path_factory.mktemp("ablate") / "data", labels=True)


def _study(prepared, out, log, **kwargs):
    return ablate(prepared, out, blocks=["funnel"], tasks=["conversion"], labels=prepared / "labels", device="cpu",
                  hidden_sizes=TINY, progress=False, resamples=50, log=log.append, **kwargs)


def test_study_resumes_and_reports_the_zeroed_block(prepared, tmp_path, monkeypatch):
    out = tmp_path / "A"
    calls: list[str] = []
    real = workers_mod.train_task
    seen_variants = []

    def interrupted_once(*args, **kwargs):
        calls.append(kwargs["label"])
        seen_variants.append(np.asarray(args[0], dtype=np.float32).copy())
        if len(calls) == 2 and not getattr(interrupted_once, "done", False):
            interrupted_once.done = True
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(workers_mod, "train_task", interrupted_once)
    log: list[str] = []
    with pytest.raises(KeyboardInterrupt):  # killed in the variant, after the full entry finished
        _study(prepared, out, log)
    assert log[0].startswith("ablation cost: 2 variants x 1 tasks x 1 seeds = 2 trainings")
    assert (out / "runs" / "full" / "scores.json").is_file() and (out / "variants" / "without.funnel").is_dir()

    log.clear()
    result = _study(prepared, out, log)
    assert "reusing the entry in" in " ".join(log) and "ablation: full finished earlier; reused" in log
    assert len(calls) == 3  # only the interrupted variant trained again
    assert not (out / "variants" / "without.funnel").exists()  # freed once its run finished

    # the variant saw the full entry with exactly the funnel's 4 columns zeroed
    meta = json.loads((out / "entry" / "columns.json").read_text())
    funnel = [i for i, c in enumerate(meta["columns"]) if c.startswith("funnel.")]
    full, variant = seen_variants[0], seen_variants[2]
    assert len(funnel) == 4 and not variant[:, funnel].any()
    assert np.array_equal(np.delete(variant, funnel, 1), np.delete(full, funnel, 1))

    (effect,) = result.effects
    scores = result.scores
    assert effect.block == "funnel" and effect.columns == 4 and effect.task == "conversion"
    assert effect.point == pytest.approx(scores["full"]["conversion"] - scores["without.funnel"]["conversion"],
                                         abs=1e-4)
    assert effect.low <= effect.point <= effect.high
    saved = json.loads((out / "ablation.json").read_text())
    assert saved["effects"][0]["point"] == effect.point and saved["blocks"][0]["columns"] == 4
    assert (out / "ablation.png").read_bytes()[:4] == b"\x89PNG"
    page = parse((out / "ablation.html").read_text())  # the same numbers, self-contained
    (heatmap,) = assert_self_contained(page)
    assert heatmap[:4] == b"\x89PNG"
    (row,) = table_with(page, ["block", "task", "full", "variant", "change", "low", "high", "verdict", "dominates"])
    assert row[:7] == ["funnel", "conversion", f"{effect.full:.4f}", f"{effect.variant:.4f}", f"{effect.point:+.4f}",
                       f"{effect.low:+.4f}", f"{effect.high:+.4f}"]
    assert "ablation.html" in json.loads((out / ".ubm-manifest.json").read_text())["files"]

    log.clear()
    again = _study(prepared, out, log)
    assert len(calls) == 3 and again.effects == result.effects  # nothing retrained, the same numbers


def test_cli_refuses_bad_input_in_one_line(prepared, tmp_path):
    runner = CliRunner()
    base = ["ablate", "--data-dir", str(prepared), "--tasks", "conversion", "--quiet"]
    result = runner.invoke(main, base + ["--out", str(tmp_path / "A"), "--blocks", "nosuch"])
    assert result.exit_code == 2 and "--blocks" in result.output and "no block 'nosuch'" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "A").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    result = runner.invoke(main, base + ["--out", str(tmp_path / "mine"), "--blocks", "funnel"])
    assert result.exit_code != 0 and "not a study of `ubm ablate`" in result.output
    assert "Traceback" not in result.output and (tmp_path / "mine" / "notes.txt").read_text() == "x"
    result = runner.invoke(main, base + ["--out", str(tmp_path / "B"), "--seeds", "0"])
    assert result.exit_code == 2 and "--seeds" in result.output
