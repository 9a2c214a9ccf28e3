"""``ubm-sql``: list, show and run the SQL templates."""

from __future__ import annotations

import json
from pathlib import Path

import click
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ubm.clikit import command_group, key_values, settings_options
from ubm.data import sql
from ubm.data.io import Settings
from ubm.data.opener import open_data
from ubm.util import atomic_path, check_file_out


def _parse_structure(pairs: tuple[str, ...]) -> dict:
    out = {}
    for key, value in key_values(pairs, "--set", strip_values=False).items():
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
        except RecursionError:  # [[[[... thousands deep: no structure value is that deep
            raise click.BadParameter(f"'{key}' is nested too deeply", param_hint="--set") from None
    return out


@command_group("Render and run ubm's SQL templates (sql/<stage>/<name>.sql).",
               "Reference: docs/README.md in the ubm repository; docs/data.md describes the tables "
               "that templates read.")
def main(debug: bool) -> None:
    pass


@main.command("list", help="Every template with its purpose line.")
def list_cmd() -> None:
    templates = sql.list_templates()
    width = max((len(t.name) for t in templates), default=0)
    for tpl in templates:
        params = " ".join(f"${p}" for p in tpl.params)
        click.echo(f"{tpl.name:<{width}}  {tpl.purpose}" + (f"  [{params}]" if params else ""))


ENGINE = click.option("--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb", show_default=True,
                      help="duckdb: the template as written; spark: transpiled to Spark SQL")


@main.command("show", help="Print the rendered SQL of a template (--engine spark: as Spark runs it).")
@click.argument("name")
@click.option("--set", "structure", multiple=True, help="structure variable name=json (e.g. windows=[1,7])")
@ENGINE
def show_cmd(name: str, structure: tuple[str, ...], engine: str) -> None:
    # Failures go to the one error path of both command lines (clikit.GuardedGroup).
    tpl = sql.load(name)
    text = sql.render(tpl, _parse_structure(structure), dialect=engine)
    click.echo(text if text.endswith("\n") else text + "\n", nl=False)


@main.command("run", help="Run a template against a data directory.")
@click.argument("name")
@click.option("--data-dir", required=True, type=click.Path(path_type=Path), help="data directory (layout: docs/data.md)")
@click.option("--window", type=click.Choice(["all", "input"]), default="all",
              help="event views over all events or the split's input chunk")
@click.option("--param", "params", multiple=True, help="bound parameter name=value")
@click.option("--set", "structure", multiple=True, help="structure variable name=json")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "parquet"]), default="table")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="write here instead of stdout")
@click.option("--limit", type=click.IntRange(0, 2**63 - 1), default=None, help="at most N rows")
@settings_options
def run_cmd(name: str, data_dir: Path, window: str, params: tuple[str, ...],
            structure: tuple[str, ...], fmt: str, out: Path | None, limit: int | None,
            settings: Settings) -> None:
    if fmt == "parquet" and out is None:
        raise click.UsageError("--format parquet needs --out FILE")
    if out is not None:
        check_file_out(out)  # before the query runs: a refusal costs nothing
    # Failures go to the one error path of both command lines (clikit.GuardedGroup): a bad
    # template or value exits 2, bad data or a machine's limit 1, each as one error line.
    values, shape = key_values(params, "--param", strip_values=False), _parse_structure(structure)
    sql.load(name)  # an unknown template is refused before the data is opened
    data = open_data(data_dir, window=window, settings=settings)
    rel = sql.run_standalone(data, name, values, shape)
    if rel is None:
        click.echo(f"{name}: statement executed", err=True)
        return
    if limit is not None:
        rel = rel.limit(limit)
    with sql.explained(data):
        if settings.engine == "duckdb":
            _emit(rel, fmt, out)
        else:
            _emit_arrow(rel.toArrow(), fmt, out)


def _emit(rel: duckdb.DuckDBPyRelation, fmt: str, out: Path | None) -> None:
    if out is None:
        if fmt == "table":
            rel.show(max_rows=10_000, max_width=200)
        elif fmt == "csv":
            click.echo(",".join(rel.columns))
            for row in rel.fetchall():
                click.echo(",".join("" if v is None else str(v) for v in row))
        else:
            click.echo(json.dumps(_rows(rel), default=str, indent=1))
        return
    with atomic_path(out) as tmp:
        if fmt == "parquet":
            rel.write_parquet(str(tmp))
        elif fmt == "csv":
            rel.write_csv(str(tmp), header=True)
        elif fmt == "json":
            tmp.write_text(json.dumps(_rows(rel), default=str, indent=1))
        else:
            tmp.write_text(str(rel))
    click.echo(f"wrote {out}", err=True)


def _emit_arrow(table: pa.Table, fmt: str, out: Path | None) -> None:
    """What _emit writes, from an Arrow table (the Spark engine's results)."""
    rows = table.to_pylist()
    if fmt == "parquet":
        text = None
    elif fmt == "json":
        text = json.dumps(rows, default=str, indent=1) + "\n"
    else:
        sep = "," if fmt == "csv" else "  "
        lines = [sep.join(table.column_names)]
        lines += [sep.join("" if v is None else str(v) for v in row.values()) for row in rows]
        text = "\n".join(lines) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    with atomic_path(out) as tmp:
        if fmt == "parquet":
            pq.write_table(table, tmp)
        else:
            tmp.write_text(text)
    click.echo(f"wrote {out}", err=True)


def _rows(rel: duckdb.DuckDBPyRelation) -> list[dict]:
    return [dict(zip(rel.columns, row)) for row in rel.fetchall()]


if __name__ == "__main__":
    main()
