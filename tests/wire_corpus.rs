//! Every wire fixture, fed to the native parser and classifier at every split point and under
//! random chunkings, yields the verdict written beside it in `tests/fixtures/verdicts.tsv`.

use std::path::PathBuf;

use proptest::prelude::*;
use unbusy::classify::{ResponseHead, StreamClassifier, StreamEnd};

struct Wire {
    name: String,
    expected: String,
    head: ResponseHead,
    body: Vec<u8>,
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn corpus() -> Vec<Wire> {
    let table = std::fs::read_to_string(fixtures_dir().join("verdicts.tsv")).expect("verdicts.tsv");
    table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let raw = std::fs::read(fixtures_dir().join("wire").join(format!("{}.http", cols[0]))).expect("fixture file");
            let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("head");
            let head_text = String::from_utf8(raw[..split].to_vec()).expect("ascii head");
            let mut lines = head_text.split("\r\n");
            let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
            let mut head = ResponseHead { status, now_ms: 1_764_000_000_000, ..Default::default() };
            for (k, v) in lines.filter_map(|l| l.split_once(':')) {
                let v = Some(v.trim().to_string());
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-type" => head.content_type = v,
                    "retry-after" => head.retry_after = v,
                    "x-amzn-waf-action" => head.waf_action = v,
                    "cf-mitigated" => head.cf_mitigated = v,
                    "x-ds-sse-heartbeat-timeout-secs" => head.heartbeat_timeout_secs = v,
                    _ => {}
                }
            }
            Wire { name: cols[0].into(), expected: cols[1].into(), head, body: raw[split + 4..].to_vec() }
        })
        .collect()
}

fn classify_in_chunks(wire: &Wire, cuts: &[usize]) -> String {
    let mut classifier = StreamClassifier::new(wire.head.clone());
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&wire.body.len())) {
        let cut = cut.clamp(start, wire.body.len());
        classifier.push(&wire.body[start..cut]);
        start = cut;
    }
    classifier.finish(StreamEnd::Complete).label()
}

#[test]
fn corpus_covers_every_fixture_file() {
    let listed: Vec<String> = corpus().into_iter().map(|w| w.name).collect();
    for entry in std::fs::read_dir(fixtures_dir().join("wire")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let stem = name.trim_end_matches(".http");
        assert!(stem.starts_with("route_") || listed.iter().any(|l| l == stem), "{name} has no expected verdict");
    }
    assert!(listed.len() >= 43, "corpus shrank to {}", listed.len());
}

#[test]
fn every_fixture_whole() {
    for wire in corpus() {
        assert_eq!(classify_in_chunks(&wire, &[]), wire.expected, "fixture {}", wire.name);
    }
}

#[test]
fn every_fixture_at_every_split_point() {
    for wire in corpus() {
        for cut in 0..=wire.body.len() {
            assert_eq!(classify_in_chunks(&wire, &[cut]), wire.expected, "fixture {} split at {cut}", wire.name);
        }
    }
}

#[test]
fn every_fixture_byte_by_byte() {
    for wire in corpus() {
        let cuts: Vec<usize> = (1..wire.body.len()).collect();
        assert_eq!(classify_in_chunks(&wire, &cuts), wire.expected, "fixture {} byte by byte", wire.name);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn every_fixture_under_random_chunkings(mut cuts in proptest::collection::vec(0usize..4096, 0..40)) {
        cuts.sort_unstable();
        for wire in corpus() {
            prop_assert_eq!(classify_in_chunks(&wire, &cuts), wire.expected.clone(), "fixture {}", wire.name);
        }
    }
}
