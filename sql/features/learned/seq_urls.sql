-- The urls the sequence block gives an embedding (and a class of the next-url objective) of their own.
-- $end TIMESTAMP  exclusive end: page visits with timestamp < end count
-- $n BIGINT  vocabulary size
-- returns: (url, n) for the n most visited urls (at least 2 visits), ties by url; ordered by n desc, url.
SELECT url, count(*) AS n FROM page_visit
WHERE timestamp < $end
GROUP BY url
HAVING count(*) >= 2
ORDER BY n DESC, url
LIMIT $n
