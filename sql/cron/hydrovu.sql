-- Collect a HydroVu sonde's readings, downsample them for charts, and
-- answer what a chart asks. Cron runs it hourly:
--
--   15 * * * *  pondsql --pond /data/pond -q -f sql/cron/hydrovu.sql
--
-- Credentials: HYDROVU_CLIENT_ID and HYDROVU_CLIENT_SECRET in cron's
-- environment, or client_id / client_secret under [hydrovu] in
-- ~/.config/pondsql/secrets.toml (chmod 600). They never enter the pond.
-- Find your location ids with: SELECT * FROM hydrovu_locations();
--
-- Safe to repeat: the CREATEs act only the first time, and REFRESH ALL asks
-- HydroVu only for readings newer than the newest one held (a run with
-- nothing new commits nothing). A failed run commits nothing for the view
-- that failed; the next run catches up.

CREATE DIRECTORY IF NOT EXISTS '/hydrovu';
CREATE DIRECTORY IF NOT EXISTS '/rollups';
CREATE DIRECTORY IF NOT EXISTS '/rollups/1h';
CREATE DIRECTORY IF NOT EXISTS '/rollups/1d';

-- One location's readings, wide: "timestamp" then one column per
-- parameter ("Temperature.C", "Dissolved Oxygen.mg/L", …). The first runs
-- take years of history in steps of about 100,000 readings per parameter.
CREATE MATERIALIZED VIEW IF NOT EXISTS "/hydrovu/lake_north" AS
  SELECT * FROM hydrovu_readings(6582334, since => TIMESTAMP '2024-01-01 00:00:00Z', max_points => 100000);

-- min/avg/max/count/sum per hour, and per day from the hours (exactly).
CREATE MATERIALIZED VIEW IF NOT EXISTS "/rollups/1h/lake_north" AS
  SELECT * FROM downsample('/hydrovu/lake_north', INTERVAL '1 hour');
CREATE MATERIALIZED VIEW IF NOT EXISTS "/rollups/1d/lake_north" AS
  SELECT * FROM downsample('/rollups/1h/lake_north', INTERVAL '1 day');

-- Sources before the views that read them; one commit per view.
REFRESH ALL;

-- A chart: the last two days of water temperature, hourly.
SELECT "timestamp", "Temperature.C.min", "Temperature.C.avg", "Temperature.C.max"
FROM "/rollups/1h/lake_north"
WHERE "timestamp" >= (SELECT max("timestamp") FROM "/rollups/1h/lake_north") - INTERVAL '2 days'
ORDER BY "timestamp";
