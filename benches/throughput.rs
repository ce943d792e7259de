//! Throughput of the SSE parser and classifier, natively. `cargo xtask bench` runs this and then
//! the same workload through the WASM core (tests/e2e/bench.mjs), so both figures print in one run.

use std::time::Instant;

use unbusy::classify::{ResponseHead, StreamClassifier, StreamEnd};
use unbusy::protocol::{CsMessage, EndKind, SelectedHeaders, Sender, Transport};
use unbusy::sse::{Limits, SseParser};
use unbusy::watch::Watcher;

/// A long generation-3 answer: the same frames the simulator streams, repeated.
pub fn workload(target_bytes: usize) -> Vec<u8> {
    let mut body = String::from("event: ready\ndata: {\"request_message_id\":1,\"response_message_id\":2}\n\n");
    body.push_str("data: {\"v\":[{\"v\":[{\"id\":1,\"type\":\"RESPONSE\",\"content\":\"\"}],\"p\":\"fragments\",\"o\":\"APPEND\"}],\"p\":\"response\",\"o\":\"BATCH\"}\n\n");
    let mut n = 0;
    while body.len() < target_bytes {
        n += 1;
        body.push_str(&format!("data: {{\"v\":\" token {n} 服务\",\"p\":\"response/fragments/0/content\",\"o\":\"APPEND\"}}\n\n"));
        body.push_str(": keep-alive\n\n");
    }
    body.push_str("data: {\"v\":[{\"v\":\"FINISHED\",\"p\":\"status\"}],\"p\":\"response\",\"o\":\"BATCH\"}\n\nevent: finish\ndata: {}\n\n");
    body.into_bytes()
}

fn best_of<F: FnMut()>(runs: usize, mut f: F) -> f64 {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let body = workload(8 * 1024 * 1024);
    let mb = body.len() as f64 / (1024.0 * 1024.0);
    println!("workload: {:.1} MiB of generation-3 frames", mb);
    // The WASM half of the benchmark (tests/e2e/bench.mjs) reads the very same bytes.
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-workload.sse");
    std::fs::write(&shared, &body).expect("write the shared workload");
    for chunk in [1024usize, 16 * 1024] {
        let parse = best_of(5, || {
            let mut parser = SseParser::new(Limits::default());
            let mut out = Vec::new();
            for piece in body.chunks(chunk) {
                parser.push(piece, &mut out);
                out.clear();
            }
            parser.finish(&mut out);
        });
        let classify = best_of(5, || {
            let head = ResponseHead { status: 200, content_type: Some("text/event-stream".into()), ..Default::default() };
            let mut classifier = StreamClassifier::new(head);
            for piece in body.chunks(chunk) {
                classifier.push(piece);
            }
            assert_eq!(classifier.finish(StreamEnd::Complete).label(), "ok");
        });
        // The path the background takes: protocol messages with one-char-per-byte strings.
        let messages: Vec<String> = body.chunks(chunk).map(|c| c.iter().map(|&b| char::from(b)).collect()).collect();
        let watch = best_of(5, || {
            let mut watcher = Watcher::new();
            let sender = Sender { tab_id: 1, frame_id: 0, incognito: false, now_ms: 0.0, local_hour: 0 };
            let headers = SelectedHeaders { content_type: Some("text/event-stream".into()), ..Default::default() };
            watcher.handle(
                CsMessage::CsStreamOpen { stream: 1, route: "/api/v0/chat/completion".into(), transport: Transport::Fetch, status: 200, headers },
                sender,
            );
            for bytes in &messages {
                watcher.handle(CsMessage::CsStreamBytes { stream: 1, bytes: bytes.clone() }, sender);
            }
            watcher.handle(CsMessage::CsStreamEnd { stream: 1, end: EndKind::Complete }, sender);
        });
        println!(
            "native, {:>5} B chunks: SSE parser {:>7.1} MB/s · classifier {:>7.1} MB/s · watcher messages {:>7.1} MB/s",
            chunk,
            mb / parse,
            mb / classify,
            mb / watch
        );
    }
}
