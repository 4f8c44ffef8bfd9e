//! Host files compressed with gzip, zstd, bzip2 or xz read by their
//! extension, as their plain forms read: as tables, through read_csv /
//! read_json, and in ingestion views; the pond's CSV checks see the
//! decompressed bytes.

use std::io::Write;
use std::path::Path;

use crate::common::TestPond;

const CSV: &str =
    "ts;value;site\n2024-01-01 00:00:00;1,5;north\n2024-01-01 01:00:00;2,25;\"south; lower\"\n";
const JSON: &str = "{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"y\"}\n";

/// `text` compressed as the extension `kind` says.
fn compress(kind: &str, text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    match kind {
        "gz" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(bytes).unwrap();
            e.finish().unwrap()
        }
        "zst" => zstd::encode_all(bytes, 3).unwrap(),
        "bz2" => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
            e.write_all(bytes).unwrap();
            e.finish().unwrap()
        }
        "xz" => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(bytes).unwrap();
            e.finish().unwrap()
        }
        other => panic!("{other}"),
    }
}

fn put(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn compressed_host_files_read_as_their_plain_forms() {
    let p = TestPond::new().await;
    let dir = p.dir.path();
    let plain_csv = put(dir, "r.csv", CSV.as_bytes());
    let plain_json = put(dir, "r.json", JSON.as_bytes());
    let csv_options = "{delim: ';', decimal: ','}";
    let want_csv = p
        .ok(&format!(
            "SELECT * FROM read_csv('{plain_csv}', {csv_options}) ORDER BY ts"
        ))
        .await;
    let want_json = p
        .ok(&format!("SELECT * FROM '{plain_json}' ORDER BY a"))
        .await;
    assert!(
        want_csv.contains("south; lower") && want_csv.contains("2.25"),
        "{want_csv}"
    );
    for kind in ["gz", "zst", "bz2", "xz"] {
        let csv = put(dir, &format!("r.csv.{kind}"), &compress(kind, CSV));
        let json = put(dir, &format!("r.json.{kind}"), &compress(kind, JSON));
        let got = p
            .ok(&format!(
                "SELECT * FROM read_csv('{csv}', {csv_options}) ORDER BY ts"
            ))
            .await;
        assert_eq!(got, want_csv, "{kind}");
        let got = p.ok(&format!("SELECT * FROM '{json}' ORDER BY a")).await;
        assert_eq!(got, want_json, "{kind}");
        let got = p
            .ok(&format!("SELECT * FROM read_json('{json}') ORDER BY a"))
            .await;
        assert_eq!(got, want_json, "{kind}");
    }
    // A file named as a table alone, with the default options.
    let comma = put(dir, "c.csv.gz", &compress("gz", "a,b\n1,x\n2,y\n"));
    assert_eq!(p.value(&format!("SELECT sum(a) FROM '{comma}'")).await, "3");

    // The quoting check reads the decompressed bytes: a quote left open in
    // a compressed file is named by its line, as in a plain one.
    let open_quote = put(dir, "q.csv.zst", &compress("zst", "a,b\n1,x\n2,\"y\n3,z\n"));
    let err = p.err(&format!("SELECT * FROM '{open_quote}'")).await;
    assert!(
        err.contains("the quote opened at line 3 is never closed"),
        "{err}"
    );

    // A glob reads every file it names, whatever its extension (a rotated
    // log is `pump.log.1`); a directory, its .csv files.
    let logs = dir.join("logs");
    std::fs::create_dir(&logs).unwrap();
    put(&logs, "pump.log", b"a\n1\n");
    put(&logs, "pump.log.1", b"a\n2\n");
    put(&logs, "notes.csv", b"a\n40\n");
    let glob = logs.join("pump.log*").display().to_string();
    assert_eq!(
        p.value(&format!("SELECT sum(a) FROM read_csv('{glob}')"))
            .await,
        "3"
    );
    let all = logs.display().to_string();
    assert_eq!(
        p.value(&format!("SELECT sum(a) FROM read_csv('{all}')"))
            .await,
        "40"
    );

    // One call reads one kind of file.
    let mixed = dir.join("r.csv*").display().to_string();
    let err = p
        .err(&format!("SELECT * FROM read_csv('{mixed}', {csv_options})"))
        .await;
    assert!(err.contains("compressed differently"), "{err}");
}

#[tokio::test]
async fn an_ingestion_view_takes_compressed_deliveries() {
    let p = TestPond::new().await;
    let drop = p.dir.path().join("incoming");
    std::fs::create_dir(&drop).unwrap();
    put(
        &drop,
        "s1-001.csv.gz",
        &compress(
            "gz",
            "ts,value\n2024-01-01T00:00:00,1.5\n2024-01-01T00:01:00,2.5\n",
        ),
    );
    p.ok(&format!(
        "CREATE MATERIALIZED VIEW \"/raw\" AS SELECT * FROM '{}/s1-*.csv.gz'",
        drop.display()
    ))
    .await;
    assert_eq!(p.value("SELECT count(*) FROM \"/raw\"").await, "2");
    put(
        &drop,
        "s1-002.csv.gz",
        &compress("gz", "ts,value\n2024-01-01T00:02:00,3\n"),
    );
    p.ok("REFRESH MATERIALIZED VIEW \"/raw\"").await;
    assert_eq!(p.value("SELECT sum(value) FROM \"/raw\"").await, "7.0");

    // JSON deliveries: the format comes from the name before `.zst`.
    put(&drop, "j-001.json.zst", &compress("zst", JSON));
    p.ok(&format!(
        "CREATE MATERIALIZED VIEW \"/json\" AS SELECT * FROM '{}/j-*.json.zst'",
        drop.display()
    ))
    .await;
    assert_eq!(p.value("SELECT sum(a) FROM \"/json\"").await, "3");
    put(
        &drop,
        "j-002.json.zst",
        &compress("zst", "{\"a\":4,\"b\":\"z\"}\n"),
    );
    p.ok("REFRESH MATERIALIZED VIEW \"/json\"").await;
    assert_eq!(p.value("SELECT sum(a) FROM \"/json\"").await, "7");
}
