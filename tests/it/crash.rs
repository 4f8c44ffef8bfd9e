//! `kill -9` at random moments: the pond always opens, every acknowledged
//! commit is there, and the interrupted one is absent (never half there).

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{init_pond, pondsql, run_cli, seed_from_env, stderr, stdout, Lcg};

#[test]
fn sigkill_at_random_points_loses_no_acknowledged_commit() {
    let seed = seed_from_env("PONDSQL_CRASH_SEED");
    let mut rng = Lcg(seed);
    let (dir, pond) = init_pond();
    let out = run_cli(
        &pond,
        &["CREATE TABLE t (round BIGINT, i BIGINT, payload VARCHAR)"],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let mut interrupted_rounds = 0;
    for round in 0..12u64 {
        // Each INSERT is one commit; the SELECT after it prints only once it is acknowledged.
        // Every third insert is large enough to become a blob.
        let script: String = (0..400)
            .map(|i| {
                let payload = if i % 3 == 0 { "repeat(CAST((value * 2654435761) % 4294967291 AS VARCHAR), 12)" } else { "'x'" };
                let rows = if i % 3 == 0 { 800 } else { 1 };
                format!(
                    "INSERT INTO t SELECT {round} AS round, {i} AS i, {payload} AS payload FROM generate_series(1, {rows});\nSELECT 'ack {i}' AS ack;\n"
                )
            })
            .collect();
        let script_path = dir.path().join("script.sql");
        std::fs::write(&script_path, script).unwrap();
        let mut child = pondsql()
            .arg("--pond")
            .arg(&pond)
            .arg("-f")
            .arg(&script_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let kill_after = Duration::from_millis(300 + rng.next(2000));
        let stdout_pipe = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acked = Vec::new();
            for line in BufReader::new(stdout_pipe).lines() {
                let line = line.unwrap();
                let number = line
                    .split("ack ")
                    .nth(1)
                    .map(|rest| rest.trim_end_matches([' ', '|']).parse::<u64>());
                if let Some(Ok(i)) = number {
                    acked.push(i);
                }
            }
            acked
        });
        let started = Instant::now();
        while started.elapsed() < kill_after {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        // Killed by us, or finished the whole script: never failed on its own.
        assert!(
            status.success() || status.code().is_none(),
            "seed {seed} round {round}: pondsql failed: {status}"
        );
        let acked = reader.join().unwrap();
        eprintln!(
            "round {round}: killed after {kill_after:?}, {} commits acknowledged",
            acked.len()
        );
        if !acked.is_empty() && acked.len() < 400 {
            interrupted_rounds += 1;
        }

        // The pond opens, and holds exactly a prefix of the inserts: all acknowledged
        // ones, plus at most the one in flight, each whole.
        let out = run_cli(
            &pond,
            &[&format!(
                "SELECT i, count(*) AS n FROM t WHERE round = {round} GROUP BY i ORDER BY i"
            )],
        );
        assert!(
            out.status.success(),
            "seed {seed} round {round}: pond did not open: {}",
            stderr(&out)
        );
        let present: Vec<(u64, u64)> = stdout(&out)
            .lines()
            .filter_map(|l| {
                let cells: Vec<&str> = l
                    .split('|')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .collect();
                Some((cells.first()?.parse().ok()?, cells.get(1)?.parse().ok()?))
            })
            .collect();
        let ids: Vec<u64> = present.iter().map(|(i, _)| *i).collect();
        let expected_prefix: Vec<u64> = (0..ids.len() as u64).collect();
        assert_eq!(
            ids, expected_prefix,
            "seed {seed} round {round}: not a prefix"
        );
        assert!(
            ids.len() >= acked.len() && ids.len() <= acked.len() + 1,
            "seed {seed} round {round}: acked {} present {}",
            acked.len(),
            ids.len()
        );
        for (i, n) in present {
            let whole = if i % 3 == 0 { 800 } else { 1 };
            assert_eq!(n, whole, "seed {seed} round {round}: insert {i} is partial");
        }
    }
    // The test only means something if kills landed between commits.
    assert!(
        interrupted_rounds >= 6,
        "seed {seed}: only {interrupted_rounds} rounds were interrupted mid-run"
    );
}
