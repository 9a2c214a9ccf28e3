"""The learned recipe on a window too short for its cut (a 17-minute real sample, a 3-day log):
the message names a cut_days that works, or says that none does (issue 22)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from ubm.profiles.recipes.learned import _too_short

DATA = SimpleNamespace(window="all", root="D")
T0 = dt.datetime(2019, 10, 1)


@pytest.mark.parametrize("span,advice", [
    (dt.timedelta(minutes=17), "needs events over more than a day"),   # REES46 sample: no cut works
    (dt.timedelta(days=1), "needs events over more than a day"),       # exactly a day: cut 1 leaves nothing
    (dt.timedelta(days=1, hours=1), "at most 1, e.g. 1"),
    (dt.timedelta(days=3), "at most 2, e.g. 1"),
    (dt.timedelta(days=10, hours=5), "at most 10, e.g. 5"),
])
def test_the_advice_is_a_cut_that_leaves_history(span, advice):
    text = _too_short(DATA, T0, T0 + span, 14)
    assert advice in text and "cut_days=14" in text
