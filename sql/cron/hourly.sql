-- The hourly pipeline: ingest CSV drops, downsample at 1 hour, 6 hours and
-- 1 day, and answer what a web chart asks. Cron runs it from the data
-- directory (see README):
--
--   5 * * * *  cd /data && pondsql --pond pond -q -f sql/cron/hourly.sql
--
-- Safe to repeat: the CREATEs act only the first time, and REFRESH ALL does
-- only the new work (a run with nothing new commits nothing).

CREATE DIRECTORY IF NOT EXISTS '/raw';
CREATE DIRECTORY IF NOT EXISTS '/rollups';

-- Each new CSV file is ingested once; a file that changes after it was
-- ingested stops the run with an error naming it.
CREATE MATERIALIZED VIEW IF NOT EXISTS "/raw/station1" AS
  SELECT * FROM 'incoming/station1-*.csv';
CREATE MATERIALIZED VIEW IF NOT EXISTS "/raw/station2" AS
  SELECT * FROM 'incoming/station2-*.csv';

-- min/avg/max/count/sum per bucket and station (the glob's capture); each
-- coarser level is built exactly from the finer one.
CREATE MATERIALIZED VIEW IF NOT EXISTS "/rollups/1h" AS
  SELECT * FROM downsample('/raw/{station}', INTERVAL '1 hour');
CREATE MATERIALIZED VIEW IF NOT EXISTS "/rollups/6h" AS
  SELECT * FROM downsample('/rollups/1h', INTERVAL '6 hours');
CREATE MATERIALIZED VIEW IF NOT EXISTS "/rollups/1d" AS
  SELECT * FROM downsample('/rollups/6h', INTERVAL '1 day');

-- Sources before the views that read them; one commit per view.
REFRESH ALL;

-- A chart: the last two days of temperature at 6-hour resolution.
SELECT station, ts, "temp.min", "temp.avg", "temp.max"
FROM "/rollups/6h"
WHERE ts >= (SELECT max(ts) FROM "/rollups/6h") - INTERVAL '2 days'
ORDER BY station, ts;
