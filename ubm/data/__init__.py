"""Data access: the data contract as typed views (io), the SQL template runner and `ubm-sql` (sql,
sql_cli, templating), the engines that run it (engine: DuckDB; spark and dialect: Spark), the generator."""
