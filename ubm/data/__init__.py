"""Data access: the data contract as typed DuckDB views, the SQL template runner and `ubm-sql`, the generator."""
