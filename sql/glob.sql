-- glob(): one table per station and parameter, read as one.
-- Run from the repository root:
--   pondsql init /tmp/glob-pond && pondsql --pond /tmp/glob-pond -f sql/glob.sql
-- Its output is checked in CI against sql/glob.expected.

-- Layout: /field/<station>/<parameter>, each a series (ts, value).
BEGIN;
CREATE DIRECTORY '/field/station1';
CREATE DIRECTORY '/field/station2';
CREATE TABLE "/field/station1/temp_c" AS SELECT ts, temp_c AS value FROM 'tests/data/station1.csv';
CREATE TABLE "/field/station1/conductivity" AS SELECT ts, conductivity AS value FROM 'tests/data/station1.csv';
CREATE TABLE "/field/station2/temp_c" AS SELECT ts, temp_c AS value FROM 'tests/data/station2.csv';
CREATE TABLE "/field/station2/conductivity" AS SELECT ts, conductivity AS value FROM 'tests/data/station2.csv';
COMMIT;

-- A second day arrives for station1: each INSERT is a new version.
INSERT INTO "/field/station1/temp_c" SELECT ts, temp_c FROM 'tests/data/station1-day2.csv';
INSERT INTO "/field/station1/conductivity" SELECT ts, conductivity FROM 'tests/data/station1-day2.csv';

-- Filters on captures skip whole tables; time filters skip whole versions.
SELECT _path, count(*) AS n
FROM glob('/field/{station}/{parameter}')
WHERE parameter = 'temp_c' AND ts >= '2024-05-02'
GROUP BY _path ORDER BY _path;

-- What that query read (counters since this process opened the pond):
-- 4 tables matched, 2 skipped by their capture; of the 3 versions left,
-- the two of 2024-05-01 were skipped by time: 1 content opened.
SELECT name, value FROM pond.system.metrics
WHERE name IN ('tables_matched', 'tables_skipped_by_capture', 'versions_listed', 'versions_skipped_by_time', 'contents_opened')
ORDER BY name;

-- {station} and {parameter} become columns; conductivity is integer in the
-- files and temp_c is not, so glob() widens value to DOUBLE.
SELECT station, parameter, date_trunc('day', ts) AS day,
       min(value) AS min, round(avg(value), 3) AS avg, max(value) AS max, count(*) AS n
FROM glob('/field/{station}/{parameter}')
GROUP BY station, parameter, day
ORDER BY station, parameter, day;
