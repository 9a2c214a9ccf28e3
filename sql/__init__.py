"""The SQL templates (`<stage>/<name>.sql`), shipped inside the package as ``ubm.sql``."""
