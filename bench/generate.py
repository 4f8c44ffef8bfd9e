"""Deterministic environmental readings for bench/: the same data as CSV,
as Parquet, and as one Parquet file per station, parameter and day.

Readings are minute values of S stations x P parameters over D days, in
delivery order: by time, except that each station has one outage (a gap of
2-8 hours), about 1 % of readings are missing at random, and about 0.5 % are
delivered late (moved to the end of the files). Same seed, same bytes.

    python bench/generate.py small OUT_DIR
"""

import json
import os
import sys
from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401 (pa.compute)
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

SIZES = {
    # stations, parameters, days, days written as per-day files (glob case)
    "small": dict(stations=10, parameters=4, days=25, glob_days=25),
    "large": dict(stations=20, parameters=6, days=300, glob_days=30),
}
PARAMETERS = ["temp", "ph", "do", "cond", "turb", "level", "flow", "orp"]
# A typical value and a daily swing per parameter.
LEVELS = {"temp": (12.0, 4.0), "ph": (7.4, 0.3), "do": (9.0, 1.5), "cond": (450.0, 40.0),
          "turb": (3.0, 1.0), "level": (1.2, 0.1), "flow": (35.0, 6.0), "orp": (220.0, 25.0)}
START = datetime(2024, 1, 1, tzinfo=timezone.utc)
SEED = 20240101
LATE_FRACTION = 0.005
DROP_FRACTION = 0.01
SCHEMA = pa.schema([("timestamp", pa.timestamp("us")), ("station", pa.string()),
                    ("parameter", pa.string()), ("value", pa.float64())])


def station_names(n):
    return [f"st{i:02d}" for i in range(1, n + 1)]


def day_readings(rng, day, stations, parameters, outages):
    """One day's readings in time order, as a pyarrow Table."""
    minutes = np.arange(1440, dtype=np.int64)
    s, p = len(stations), len(parameters)
    # Row order: minute, then station, then parameter (how a logger delivers).
    minute = np.repeat(minutes, s * p)
    station = np.tile(np.repeat(np.arange(s), p), 1440)
    param = np.tile(np.arange(p), 1440 * s)
    base = np.array([LEVELS[name][0] for name in parameters])[param]
    swing = np.array([LEVELS[name][1] for name in parameters])[param]
    phase = (minute / 1440.0 + station * 0.03) * 2 * np.pi
    value = base + swing * np.sin(phase) + rng.normal(0.0, 0.05, minute.size) * swing
    keep = rng.random(minute.size) >= DROP_FRACTION
    absolute = day * 1440 + minute
    for index, (first, last) in outages.items():
        keep &= ~((station == index) & (absolute >= first) & (absolute < last))
    minute, station, param, value = minute[keep], station[keep], param[keep], value[keep]
    micros = (int(START.timestamp()) + day * 86400 + minute * 60) * 1_000_000
    return pa.table({
        "timestamp": pa.array(micros, pa.timestamp("us")),
        "station": pa.DictionaryArray.from_arrays(pa.array(station, pa.int32()), stations).cast(pa.string()),
        "parameter": pa.DictionaryArray.from_arrays(pa.array(param, pa.int32()), parameters).cast(pa.string()),
        "value": pa.array(np.round(value, 3)),
    }, schema=SCHEMA)


def write_csv(writer, table):
    """CSV with ISO timestamps ('2024-01-01T00:00:00'), which every reader infers."""
    seconds = table["timestamp"].cast(pa.timestamp("s"))
    text = pa.compute.strftime(seconds, format="%Y-%m-%dT%H:%M:%S")
    writer.write_table(pa.table([text, table["station"], table["parameter"], table["value"]],
                                names=SCHEMA.names))


def generate(size, out):
    spec = SIZES[size]
    rng = np.random.default_rng(SEED)
    stations = station_names(spec["stations"])
    parameters = PARAMETERS[: spec["parameters"]]
    total_minutes = spec["days"] * 1440
    outages = {}
    for index in range(len(stations)):
        length = int(rng.integers(120, 481))
        first = int(rng.integers(0, total_minutes - length))
        outages[index] = (first, first + length)
    os.makedirs(out, exist_ok=True)
    glob_dir = os.path.join(out, "glob")
    csv_options = pcsv.WriteOptions(include_header=True, quoting_style="none")
    csv_schema = pa.schema([("timestamp", pa.string())] + list(SCHEMA)[1:])
    rows = late_rows = files = 0
    late = []
    with pcsv.CSVWriter(os.path.join(out, "readings.csv"), csv_schema, write_options=csv_options) as csv_writer, \
            pq.ParquetWriter(os.path.join(out, "readings.parquet"), SCHEMA, compression="zstd") as parquet_writer:
        for day in range(spec["days"]):
            table = day_readings(rng, day, stations, parameters, outages)
            if day < spec["glob_days"]:
                files += write_day_files(glob_dir, table, day)
            is_late = rng.random(table.num_rows) < LATE_FRACTION
            late.append(table.filter(pa.array(is_late)))
            table = table.filter(pa.array(~is_late))
            write_csv(csv_writer, table)
            parquet_writer.write_table(table)  # one row group per day
            rows += table.num_rows
        late_table = pa.concat_tables(late)
        write_csv(csv_writer, late_table)
        parquet_writer.write_table(late_table)
        rows += late_table.num_rows
        late_rows = late_table.num_rows
    manifest = dict(size=size, seed=SEED, rows=rows, late_rows=late_rows, glob_files=files,
                    stations=stations, parameters=parameters, days=spec["days"],
                    glob_days=spec["glob_days"], first_day=START.strftime("%Y-%m-%d"),
                    csv_bytes=os.path.getsize(os.path.join(out, "readings.csv")),
                    parquet_bytes=os.path.getsize(os.path.join(out, "readings.parquet")))
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest


def write_day_files(glob_dir, table, day):
    """One file per station and parameter for this day, hive-style directories."""
    date = (START + timedelta(days=day)).strftime("%Y-%m-%d")
    files = 0
    station = table["station"].to_numpy(zero_copy_only=False)
    parameter = table["parameter"].to_numpy(zero_copy_only=False)
    keys = np.char.add(np.char.add(station.astype(str), "/"), parameter.astype(str))
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    sorted_table = table.take(pa.array(order)).select(["timestamp", "value"])
    bounds = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1], True])
    for start, end in zip(bounds[:-1], bounds[1:]):
        st, param = keys[start].split("/")
        directory = os.path.join(glob_dir, f"station={st}", f"parameter={param}", f"day={date}")
        os.makedirs(directory, exist_ok=True)
        pq.write_table(sorted_table.slice(start, end - start), os.path.join(directory, "data.parquet"),
                       compression="zstd")
        files += 1
    return files


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in SIZES:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(SIZES)} OUT_DIR")
    print(json.dumps(generate(sys.argv[1], sys.argv[2])))
