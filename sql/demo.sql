-- The pondsql demo (`pondsql demo`): three stations, minute readings over two
-- weeks, with outages and late deliveries. Paths are relative to the demo
-- directory, where `pondsql demo` writes incoming/*.csv.

-- One directory per station.
CREATE DIRECTORY '/sensors/lake_north';
CREATE DIRECTORY '/sensors/lake_south';
CREATE DIRECTORY '/sensors/creek';

-- Import the CSV drops: each statement is one atomic commit.
CREATE TABLE "/sensors/lake_north/readings" AS SELECT * FROM 'incoming/lake_north.csv';
CREATE TABLE "/sensors/lake_south/readings" AS SELECT * FROM 'incoming/lake_south.csv';
CREATE TABLE "/sensors/creek/readings" AS SELECT * FROM 'incoming/creek.csv';

-- Late readings arrive: each INSERT appends a new version of the table.
INSERT INTO "/sensors/lake_north/readings" SELECT * FROM 'incoming/lake_north-late.csv';
INSERT INTO "/sensors/creek/readings" SELECT * FROM 'incoming/creek-late.csv';

-- What the pond holds.
SELECT path, versions, rows, min_time, max_time FROM pond.system.entries WHERE kind = 'table' ORDER BY path;

-- All stations as one view, stored in the pond.
CREATE DIRECTORY '/views';
CREATE VIEW "/views/readings" AS
  SELECT 'lake_north' AS station, * FROM "/sensors/lake_north/readings"
  UNION ALL SELECT 'lake_south' AS station, * FROM "/sensors/lake_south/readings"
  UNION ALL SELECT 'creek' AS station, * FROM "/sensors/creek/readings";

-- Daily min/avg/max of water temperature per station, for a web chart.
SELECT station, date_trunc('day', ts) AS day,
       round(min(temp_c), 2) AS temp_min, round(avg(temp_c), 2) AS temp_avg, round(max(temp_c), 2) AS temp_max,
       count(*) AS readings
FROM "/views/readings"
WHERE ts < TIMESTAMP '2024-06-04 00:00:00'
GROUP BY station, date_trunc('day', ts)
ORDER BY station, day;

-- Gaps: readings missing from a full two weeks of minutes, per station.
SELECT station, count(DISTINCT date_trunc('day', ts)) AS days, 14 * 1440 - count(*) AS missing_readings
FROM "/views/readings"
GROUP BY station
ORDER BY station;

-- The same rollups kept in the pond, as cron would: materialized views that
-- REFRESH brings up to date, doing only the new work (sql/cron/hourly.sql).
CREATE DIRECTORY '/rollups';
CREATE MATERIALIZED VIEW "/rollups/1h" AS
  SELECT * FROM downsample('/sensors/{station}/readings', INTERVAL '1 hour');
CREATE MATERIALIZED VIEW "/rollups/1d" AS
  SELECT * FROM downsample('/rollups/1h', INTERVAL '1 day');
-- A day of creek readings arrives (here: a copy of the first, shifted).
INSERT INTO "/sensors/creek/readings"
  SELECT ts + INTERVAL '14 days', temp_c, conductivity_us_cm, ph, do_mg_l
  FROM "/sensors/creek/readings" WHERE ts < TIMESTAMP '2024-06-02 00:00:00';
REFRESH ALL;
SELECT station, ts AS day, round("temp_c.min", 2) AS temp_min, round("temp_c.avg", 2) AS temp_avg,
       round("temp_c.max", 2) AS temp_max, count AS readings
FROM "/rollups/1d" WHERE station = 'creek' AND ts >= TIMESTAMP '2024-06-13 00:00:00' ORDER BY day;
SELECT path, mode, sources, rows FROM pond.system.stored_queries ORDER BY path;

-- The history of one table, and the transactions that wrote the pond.
SELECT version, txn, op, rows, min_time, max_time FROM history('/sensors/creek/readings') ORDER BY version;
SELECT txn, nodes, rows_added, sql FROM pond.system.transactions WHERE rows_added > 0 ORDER BY txn;

-- A picture: each station's hourly water temperature, its min–max band
-- around the mean; the creek's outage is a gap (docs/charts.md).
COPY (SELECT station, ts, "temp_c.min", "temp_c.avg", "temp_c.max"
      FROM series('/rollups/{level}', TIMESTAMP '2024-06-01', TIMESTAMP '2024-06-16', max_points => 400))
  TO 'water-temperature.png' (FORMAT chart, width 1000, height 450, title 'Water temperature (°C), hourly min–max');
