"""``ubm check``: every problem of a data directory in one pass, with counts.

For each file present (published tables, the split's input and target files,
``relevant_clients.npy``, the label lists) it reports: unreadable files, missing columns
and wrong types, NULL values, ids and price buckets outside their range, popularity files
training would refuse, timestamps and vectors that do not parse, skus listed twice
in ``product_properties``, ids listed twice in an id array, skus bought in the target
windows without properties, and a split that no longer matches its inputs.

The stages use the same queries (:func:`require_clean`) on what they read, so a value the
pipeline depends on is checked where it is read; a violation stops the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ubm import provenance
from ubm.contract import (EVENT_TYPES, ID_RANGE, NO_PURCHASES, PROPENSITY_TASKS, TABLE_COLUMNS, Boundaries,
                          boundaries_for, value_range)
from ubm.data import sql
from ubm.guards import find_duplicates
from ubm.layout import (ACTIVE_CLIENTS, PRODUCT_PROPERTIES, RELEVANT_CLIENTS, TARGET_TABLES, event_file,
                        label_list_file, popularity_file, table_files, target_file)
from ubm.data.io import (Data, DataError, Settings, connect, load_id_array, load_popularity, register_table,
                         require_dir)


@dataclass
class Problem:
    path: Path
    what: str  # e.g. "column 'client_id': 3 NULL values"
    count: int = 1
    example: str | None = None

    def __str__(self) -> str:
        tail = f", e.g. {self.example!r}" if self.example is not None else ""
        return f"{self.path}: {self.what}{tail}"


@dataclass
class CheckReport:
    root: Path
    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        lines = [str(p) for p in self.problems]
        if self.ok:
            lines.append(f"no problems: {self.files} files, {self.rows:,} rows checked in {self.root}")
        else:
            lines.append(f"{len(self.problems)} problem(s) in {len({p.path for p in self.problems})} "
                         f"of {self.files} files checked in {self.root}")
        return "\n".join(lines)


def column_problems(data: Data, view: str, path: Path,
                    nulls_only: bool = False, columns: tuple[str, ...] | None = None) -> tuple[int, list[Problem]]:
    """(rows, problems) of one registered table: NULLs, and unparseable values unless ``nulls_only``.
    The check templates run on whichever engine holds ``data``."""
    kinds = TABLE_COLUMNS[view]
    wanted = [c for c in kinds if columns is None or c in columns]
    groups: dict[str, list[str]] = {"plain": [], "text_timestamps": [], "text_vectors": [], "list_vectors": []}
    for c in wanted:
        text = data.engine.is_text(f"raw_{view}", c)
        if nulls_only or kinds[c] == "id" or (kinds[c] == "ts" and not text):
            groups["plain"].append(c)
        elif kinds[c] == "ts":
            groups["text_timestamps"].append(c)
        else:
            groups["text_vectors" if text else "list_vectors"].append(c)
    row = sql.fetch_arrow(data, "check/column_problems", {}, {"table": view, **groups}).to_pylist()[0]
    problems = []
    for c in wanted:
        if row[f"{c}_null"]:
            problems.append(Problem(path, f"column '{c}': {row[f'{c}_null']:,} NULL value(s) of {row['n_rows']:,} rows",
                                    row[f"{c}_null"]))
        if row.get(f"{c}_bad"):
            shape = "timestamp(s) not YYYY-MM-DD HH:MM:SS" if kinds[c] == "ts" else "vector(s) not 16 integers 0..255"
            problems.append(Problem(path, f"column '{c}': {row[f'{c}_bad']:,} {shape}", row[f"{c}_bad"],
                                    row[f"{c}_example"]))
    return int(row["n_rows"]), problems


def range_problems(data: Data, view: str, path: Path, columns: tuple[str, ...] | None = None) -> list[Problem]:
    """Id columns of one registered table with values outside the contract's range (negative
    ids, ids beyond int64 in an unsigned column, price buckets outside 0..99)."""
    ids = [c for c, k in TABLE_COLUMNS[view].items() if k == "id" and (columns is None or c in columns)]
    if not ids:
        return []
    prices = [c for c in ids if value_range(c) != ID_RANGE]
    row = sql.fetch_arrow(data, "check/out_of_range", {"id_max": ID_RANGE[1], "price_max": value_range("price")[1]},
                          {"table": view, "ids": [c for c in ids if c not in prices], "prices": prices}).to_pylist()[0]
    out = []
    for c in ids:
        if row[f"{c}_out"]:
            low, high = value_range(c)
            out.append(Problem(path, f"column '{c}': {row[f'{c}_out']:,} value(s) outside {c}'s range "
                                     f"{low}..{high} (e.g. {row[f'{c}_example']})", row[f"{c}_out"]))
    return out


def duplicate_problem(data: Data, view: str, column: str, path: Path) -> Problem | None:
    row = sql.fetch_arrow(data, "check/duplicate_values", {},
                          {"table": view, "column": column}).to_pylist()[0]
    duplicated, extra, example = row.values()
    if not duplicated:
        return None
    return Problem(path, f"column '{column}': {duplicated:,} value(s) listed more than once "
                         f"({extra:,} extra rows)", int(duplicated), str(example))


def require_clean(data: Data, views: dict[str, tuple[str, ...] | None], nulls_only: bool = True) -> None:
    """Raise a DataError for the first problem in the given views' columns (None: all columns)."""
    for view, columns in views.items():
        if view not in data.paths:
            continue
        _, problems = column_problems(data, view, data.paths[view], nulls_only, columns)
        problems += range_problems(data, view, data.paths[view], columns)
        if problems:
            p = problems[0]
            more = f" (and {len(problems) - 1} more problem(s); run `ubm check --data-dir {data.root}`)" \
                if len(problems) > 1 else ""
            raise DataError(f"{p}{more}")
    if "product_properties" in views and "product_properties" in data.paths:
        dup = duplicate_problem(data, "product_properties", "sku", data.paths["product_properties"])
        if dup:
            raise DataError(f"{dup}; each sku needs exactly one row of properties")


def _tables(root: Path) -> list[tuple[str, Path]]:
    out = [(view, root / rel) for view, rel in table_files("all").items() if view not in TARGET_TABLES]
    out += [(e, root / event_file(e, "input")) for e in EVENT_TYPES]
    out += [(t, root / target_file(t)) for t in TARGET_TABLES]
    return out


def _check_table(data: Data, view: str, path: Path, report: CheckReport) -> bool:
    try:
        register_table(data.con, view, path, TABLE_COLUMNS[view])
    except DataError as exc:
        report.problems.append(Problem(path, str(exc).removeprefix(f"{path}: ")))
        return False
    rows, problems = column_problems(data, view, path)
    report.rows += rows
    report.problems += problems + range_problems(data, view, path)
    return True


def _check_arrays(root: Path, report: CheckReport) -> None:
    arrays = {root / RELEVANT_CLIENTS: "client_id", root / ACTIVE_CLIENTS: "client_id"}
    arrays.update({root / label_list_file(t): column for t, column in PROPENSITY_TASKS.items()})
    for path, column in arrays.items():
        if not path.is_file():
            if path == root / RELEVANT_CLIENTS:
                report.problems.append(Problem(path, "missing (the clients to profile)"))
            continue
        report.files += 1
        try:
            ids = load_id_array(path, column=column)
        except DataError as exc:
            report.problems.append(Problem(path, str(exc).removeprefix(f"{path}: ")))
            continue
        if ids.size == 0 and path.name != "relevant_clients.npy":
            task = "churn" if column == "client_id" else path.stem
            report.problems.append(Problem(path, f"empty: {task} would have nothing to evaluate"))
            continue
        popularity = root / popularity_file(path.stem)
        if column != "client_id" and popularity.is_file():
            report.files += 1
            try:
                load_popularity(popularity, len(ids))
            except DataError as exc:
                report.problems.append(Problem(popularity, str(exc).removeprefix(f"{popularity}: ")))
        report.rows += len(ids)
        dup = find_duplicates(ids)
        if dup:
            report.problems.append(Problem(path, f"{dup.distinct:,} id(s) listed more than once "
                                                 f"({dup.extra:,} extra entries)", dup.distinct, str(dup.example)))


def _check_target_skus(data: Data, root: Path, report: CheckReport) -> None:
    """Skus bought in the target windows (as the split would cut them) without properties."""
    end = sql.run(data, "split/end").fetchall()[0][0]
    if end is None:
        report.problems.append(Problem(root / "product_buy.parquet", NO_PURCHASES))
        return
    missing = missing_target_skus(data, boundaries_for(end))
    if missing:
        report.problems.append(missing)


def missing_target_skus(data: Data, b: Boundaries) -> Problem | None:
    """Skus bought in the target windows of ``b`` that have no properties (the split refuses
    them, `ubm check` reports them), with up to five examples and their purchases."""
    missing = sql.fetch_numpy(data, "split/missing_skus", {"since": b.train_target_start, "until": b.end})
    if not len(missing["sku"]):
        return None
    examples = ", ".join(f"{s} ({n} purchase{'s' if n != 1 else ''})" for s, n in
                         zip(missing["sku"][:5], missing["purchases"][:5]))
    return Problem(data.root / PRODUCT_PROPERTIES,
                   f"{len(missing['sku']):,} sku(s) bought in the target windows "
                   f"({int(missing['purchases'].sum()):,} purchases) have no properties, e.g. {examples}",
                   len(missing["sku"]))


def check_data_dir(data_dir: Path | str, settings: Settings = Settings()) -> CheckReport:
    """Check every file of ``data_dir``; the report lists every problem found."""
    root = require_dir(Path(data_dir))
    report = CheckReport(root)
    con = connect(settings)
    data = Data(root, con, "all", {})
    try:
        ok: dict[str, bool] = {}
        for view, path in _tables(root):
            if not path.is_file():
                if path.parent == root:
                    report.problems.append(Problem(path, "missing (a published table)"))
                continue
            report.files += 1
            ok[str(path)] = _check_table(data, view, path, report)
            if view == "product_properties" and ok[str(path)]:
                dup = duplicate_problem(data, view, "sku", path)
                if dup:
                    report.problems.append(dup)
        # Registering the split files replaced the published views; re-register what the sku check reads.
        pub = {v: root / f"{v}.parquet" for v in ("product_buy", "product_properties")}
        if all(ok.get(str(p)) for p in pub.values()):
            for view, path in pub.items():
                register_table(con, view, path, TABLE_COLUMNS[view])
            bad_ts = any("'timestamp'" in p.what for p in report.problems if p.path == pub["product_buy"])
            if not bad_ts:  # the windows need every purchase time
                _check_target_skus(data, root, report)
        _check_arrays(root, report)
        for verify in (provenance.verify_split, provenance.verify_lists):
            try:
                verify(root)
            except DataError as exc:
                report.problems.append(Problem(root, str(exc)))
    finally:
        con.close()
    return report
