//! A hostile or broken page cannot hurt Unbusy: everything that crosses from it is bounded and
//! validated in Rust. One test (or more) per way a page could try.

use std::time::{Duration, Instant};

use unbusy::classify::{ResponseHead, StreamClassifier, StreamEnd};
use unbusy::verdict::Verdict;

fn sse_head() -> ResponseHead {
    ResponseHead { status: 200, content_type: Some("text/event-stream".into()), ..Default::default() }
}

/// Pushes `chunks` and returns the verdict and the most the classifier ever held.
fn classify_watching_memory(head: ResponseHead, chunks: &[&[u8]]) -> (Verdict, usize) {
    let mut classifier = StreamClassifier::new(head);
    let mut peak = 0;
    for chunk in chunks {
        classifier.push(chunk);
        peak = peak.max(classifier.buffered_bytes());
    }
    (classifier.finish(StreamEnd::Complete), peak)
}

#[test]
fn a_huge_id_then_a_chunk_of_empty_events_stays_bounded() {
    let id = format!("id: {}\n", "i".repeat(256 * 1024 - 8));
    let events = b"data\n\n".repeat(256 * 1024 / 6);
    let busy = b"event: hint\ndata: {\"type\":\"error\",\"finish_reason\":\"server_busy\"}\n\n";
    let (verdict, peak) = classify_watching_memory(sse_head(), &[id.as_bytes(), &events, busy]);
    assert_eq!(verdict, Verdict::Busy { code: "server_busy".into() });
    assert!(peak <= StreamClassifier::max_buffered_bytes(), "{peak}");
}

#[test]
fn a_wide_frame_under_a_long_key_is_walked_in_linear_time() {
    // Building `path/key` afresh for each of 40 000 keys under a 200 KB key would copy 8 GB.
    let children: Vec<String> = (0..40_000).map(|i| format!("\"k{i}\":{{\"x\":1}}")).collect();
    let frame = format!("data: {{\"{}\":{{{}}}}}\n\n", "a".repeat(200_000), children.join(","));
    let started = Instant::now();
    let (verdict, _) = classify_watching_memory(sse_head(), &[frame.as_bytes()]);
    assert_eq!(verdict, Verdict::Dropped);
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

#[test]
fn deep_and_long_paths_still_find_real_errors() {
    let nested = "data: {\"p\":\"response\",\"v\":[{\"p\":\"status\",\"v\":\"CONTENT_FILTER\"}]}\n\n";
    let (verdict, _) = classify_watching_memory(sse_head(), &[nested.as_bytes()]);
    let (unwalked, _) = classify_watching_memory(sse_head(), &[format!("data: {}{{}}{}\n\n", "[".repeat(100), "]".repeat(100)).as_bytes()]);
    assert_ne!(verdict, Verdict::Dropped, "a real status patch is still judged");
    assert_eq!(unwalked, Verdict::Dropped);
}

#[test]
fn leading_whitespace_before_an_envelope_does_not_depend_on_chunking() {
    // 70 000 spaces then a busy JSON envelope served as an event stream: the kept 64 KB must be
    // the same whether the spaces come in their own chunk or with the envelope.
    let spaces = vec![b' '; 70_000];
    let envelope = "{\"code\":0,\"data\":{\"biz_code\":1,\"biz_msg\":\"服务器繁忙，请稍后再试。\"}}".as_bytes();
    let whole: Vec<u8> = [spaces.as_slice(), envelope].concat();
    let (one_chunk, _) = classify_watching_memory(sse_head(), &[&whole]);
    let (two_chunks, _) = classify_watching_memory(sse_head(), &[&spaces, envelope]);
    assert_eq!(one_chunk, two_chunks);
}
