//! The SSE parser and the classifier never panic and never hold more than their bounds.

use proptest::prelude::*;
use unbusy::classify::{ResponseHead, StreamClassifier, StreamEnd};
use unbusy::sse::{Limits, SseParser};

const LIMITS: Limits = Limits { max_line: 512, max_event_data: 2048 };
const MAX_BUFFERED: usize = LIMITS.max_line + LIMITS.max_event_data + unbusy::sse::MAX_EVENT_NAME + unbusy::sse::MAX_ID;

fn wire_bytes() -> impl Strategy<Value = Vec<Vec<u8>>> {
    // Bytes drawn mostly from SSE's own alphabet, so fields, line ends and BOMs are exercised.
    let byte = prop_oneof![
        Just(b'\n'),
        Just(b'\r'),
        Just(b':'),
        Just(b' '),
        Just(0xEF),
        Just(0xBB),
        Just(0xBF),
        Just(b'd'),
        Just(b'a'),
        Just(b't'),
        Just(b'e'),
        Just(b'v'),
        Just(b'{'),
        Just(b'"'),
        any::<u8>()
    ];
    proptest::collection::vec(proptest::collection::vec(byte, 0..700), 0..30)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn parser_never_panics_and_stays_bounded(chunks in wire_bytes()) {
        let mut parser = SseParser::new(LIMITS);
        let mut out = Vec::new();
        for chunk in &chunks {
            parser.push(chunk, &mut out);
            prop_assert!(parser.buffered_bytes() <= MAX_BUFFERED);
        }
        parser.finish(&mut out);
    }

    #[test]
    fn classifier_never_panics_and_stays_bounded(chunks in wire_bytes(), status in prop_oneof![Just(200u16), Just(202), Just(429), Just(503)], sse in any::<bool>()) {
        let head = ResponseHead { status, content_type: Some(if sse { "text/event-stream" } else { "application/json" }.into()), ..Default::default() };
        let mut classifier = StreamClassifier::new(head);
        for chunk in &chunks {
            classifier.push(chunk);
            prop_assert!(classifier.buffered_bytes() <= StreamClassifier::max_buffered_bytes());
        }
        classifier.finish(StreamEnd::Complete);
    }
}

#[test]
fn endless_line_is_not_buffered() {
    let mut parser = SseParser::new(LIMITS);
    let mut out = Vec::new();
    for _ in 0..10_000 {
        parser.push(&[b'x'; 100], &mut out);
    }
    assert!(parser.buffered_bytes() <= LIMITS.max_line);
}
