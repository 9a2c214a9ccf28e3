-- Reads a CSV source whose layout DuckDB could not detect once more, trusting its first line, so that the line that breaks it is named (docs/import.md §8).
-- $paths VARCHAR[]  the source's files
-- $delimiter VARCHAR  the field delimiter
-- $header BOOLEAN  whether the first line names the columns
-- $encoding VARCHAR  utf-8, utf-16 or latin-1
-- $quote VARCHAR  the quote character
-- $nullstr VARCHAR[]  CSV: the texts that mean "no value" ('' and sources.<name>.nulls)
-- returns: one row (rows BIGINT) when every line reads; else DuckDB's error names the first bad line
SELECT count(*) AS rows
FROM read_csv($paths, delim = $delimiter, header = $header, encoding = $encoding, quote = $quote, nullstr = $nullstr,
              sample_size = 1, all_varchar = true)
