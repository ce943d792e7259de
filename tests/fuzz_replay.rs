//! Replays every committed fuzz input (`fuzz/corpus/<target>/`, and `fuzz/regressions/<target>/`
//! for inputs that once broke an invariant) through the same checks the fuzz targets run.

use std::path::Path;

use unbusy::fuzzing;

fn replay(target: &str, check: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("readable directory").path();
            let input = std::fs::read(&path).expect("readable input");
            let outcome = std::panic::catch_unwind(|| check(&input));
            assert!(outcome.is_ok(), "{target}: {} breaks an invariant", path.display());
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no committed inputs for {target}");
}

#[test]
fn sse_corpus() {
    replay("sse", fuzzing::check_sse);
}

#[test]
fn classify_corpus() {
    replay("classify", fuzzing::check_classify);
}

#[test]
fn decode_corpus() {
    replay("decode", fuzzing::check_decoders);
}

#[test]
fn hub_corpus() {
    replay("hub", fuzzing::check_hub);
}
