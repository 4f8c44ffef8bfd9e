-- A five-minute tour of pondsql. Run from the repository root:
--   pondsql init /tmp/tour-pond && pondsql --pond /tmp/tour-pond -f sql/tour.sql
-- Its output is checked in CI against sql/tour.expected.

-- A pond is a tree of directories, tables and views.
CREATE DIRECTORY '/sensors/station1';
CREATE DIRECTORY '/sensors/station2';

-- Import host files; each statement is one atomic commit.
CREATE TABLE "/sensors/station1/water" AS SELECT * FROM 'tests/data/station1.csv';
CREATE TABLE "/sensors/station2/water" AS SELECT * FROM 'tests/data/station2.csv';

-- INSERT appends a new version of the table.
INSERT INTO "/sensors/station1/water" SELECT * FROM 'tests/data/station1-day2.csv';

-- Pond paths are table names; directories are schemas too.
SELECT count(*) AS readings, min(ts) AS first, max(ts) AS last FROM "/sensors/station1/water";
SELECT station, round(avg(temp_c), 2) AS avg_temp FROM pond."/sensors/station2".water GROUP BY station;

-- Views are stored in the pond.
CREATE VIEW "/sensors/daily" AS
  SELECT station, date_trunc('day', ts) AS day, min(temp_c) AS min_temp, round(avg(temp_c), 3) AS avg_temp, max(temp_c) AS max_temp
  FROM (SELECT * FROM "/sensors/station1/water" UNION ALL SELECT * FROM "/sensors/station2/water")
  GROUP BY station, date_trunc('day', ts);
SELECT * FROM "/sensors/daily" ORDER BY station, day;

-- The tree, its history and its transactions are tables.
SELECT path, kind, version, versions, rows FROM pond.system.entries ORDER BY path;
SELECT path, kind FROM ls('/sensors/**') ORDER BY path;
SELECT version, txn, op, rows FROM history('/sensors/station1/water') ORDER BY version;
SELECT txn, sql FROM pond.system.transactions WHERE txn BETWEEN 1 AND 3 ORDER BY txn;

-- Several statements, one commit.
BEGIN;
CREATE DIRECTORY '/archive';
ALTER TABLE "/sensors/station2/water" RENAME TO "/archive/station2-water";
COMMIT;
SELECT path FROM pond.system.entries WHERE kind = 'table' ORDER BY path;

-- Time travel: read the pond as it was after txn 4.
SET pond.as_of = 4;
SELECT count(*) AS readings_at_txn_4 FROM "/sensors/station1/water";
RESET pond.as_of;
SELECT count(*) AS readings_now FROM "/sensors/station1/water";
