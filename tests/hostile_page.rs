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

mod background {
    use serde_json::{json, Value};
    use unbusy::diagnose::view::PopupView;
    use unbusy::hub::{Hub, HubState, Outcome};
    use unbusy::json::{from_serde, to_serde, FromJson, ToJson};
    use unbusy::protocol::{self, BgMessage, BgUiMessage, CsMessage, EndKind, SelectedHeaders, Sender, Transport, UiMessage};
    use unbusy::restore::{self, hub_from_storage};
    use unbusy::retry::{Decision, Policy, StopReason};
    use unbusy::settings::Settings;
    use unbusy::verdict::Verdict;
    use unbusy::watch::{MAX_BYTES_PER_TAB_PER_SECOND, MAX_MESSAGES_PER_TAB_PER_SECOND};

    const BUSY: &str = "event: hint\ndata: {\"type\":\"error\",\"finish_reason\":\"server_busy\"}\n\n";
    const T0: f64 = 1_800_000_000_000.0;

    fn at(tab_id: i32, now_ms: f64) -> Sender {
        Sender { tab_id, frame_id: 0, incognito: false, now_ms, local_hour: 12 }
    }

    fn open(stream: u32) -> CsMessage {
        let headers = SelectedHeaders { content_type: Some("text/event-stream".into()), ..Default::default() };
        CsMessage::CsStreamOpen { stream, route: "/api/v0/chat/completion".into(), transport: Transport::Fetch, status: 200, headers }
    }

    fn bytes(stream: u32, text: &str) -> CsMessage {
        CsMessage::CsStreamBytes { stream, bytes: text.into() }
    }

    /// The hub as the background restores it from what storage held (written here with `json!`).
    fn restore(state: &Value, settings: &Value, history: &Value) -> Hub {
        hub_from_storage(&from_serde(state.clone()), &from_serde(settings.clone()), &from_serde(history.clone()), T0)
    }

    fn verdict_of(outcome: &Outcome) -> Option<&Verdict> {
        outcome.verdict.as_ref()
    }

    fn decision_of(outcome: &Outcome) -> Option<&Decision> {
        outcome.decision.as_ref()
    }

    /// The popup's view as its module builds it: the hub's facts, and the input read as the
    /// module reads it (leniently).
    fn diagnose(hub: &mut Hub, input: Value) -> PopupView {
        let facts = match hub.handle_ui(UiMessage::UiFacts, T0) {
            BgUiMessage::BgFacts { facts } => facts,
            other => panic!("{other:?}"),
        };
        unbusy::diagnose::view::build(&unbusy::lenient::field_by_field(&from_serde(input)), &facts).0
    }

    #[test]
    fn ten_thousand_fake_streams_erase_no_verdict_and_block_no_other_tab() {
        let mut hub = Hub::new(None, Settings::default(), None);
        hub.handle(open(1), at(1, T0), 0.5);
        for fake in 0..10_000u32 {
            // Spread over time so the stream cap (not only the message rate) meets them.
            hub.handle(open(100 + fake), at(1, T0 + f64::from(fake) * 5.0), 0.5);
        }
        let later = T0 + 60_000.0;
        let real = hub.handle(bytes(1, BUSY), at(1, later), 0.5);
        assert_eq!(verdict_of(&real), Some(&Verdict::Busy { code: "server_busy".into() }), "the real stream is still judged");
        hub.handle(open(1), at(2, later), 0.5);
        let other_tab = hub.handle(bytes(1, BUSY), at(2, later), 0.5);
        assert!(verdict_of(&other_tab).is_some(), "another tab is served");
        let drops = hub.drops();
        assert!(drops.too_many_streams >= 9_000, "{drops:?}");
    }

    #[test]
    fn a_burst_of_fake_streams_in_one_instant_is_rate_limited_and_the_real_stream_survives() {
        let mut hub = Hub::new(None, Settings::default(), None);
        hub.handle(open(1), at(1, T0), 0.5);
        for fake in 0..10_000u32 {
            hub.handle(open(100 + fake), at(1, T0), 0.5);
        }
        assert!(hub.drops().message_rate >= 10_000 - MAX_MESSAGES_PER_TAB_PER_SECOND);
        hub.handle(open(1), at(2, T0), 0.5);
        assert!(verdict_of(&hub.handle(bytes(1, BUSY), at(2, T0), 0.5)).is_some(), "another tab is not limited by this one");
        let real = hub.handle(bytes(1, BUSY), at(1, T0 + 1_000.0), 0.5);
        assert!(verdict_of(&real).is_some());
    }

    #[test]
    fn bytes_refused_for_the_message_rate_end_their_stream_unjudged() {
        let mut hub = Hub::new(None, Settings::default(), None);
        hub.handle(open(1), at(1, T0), 0.5);
        // The open was the first message of this second.
        for _ in 1..MAX_MESSAGES_PER_TAB_PER_SECOND {
            hub.handle(bytes(1, ": keep-alive\n"), at(1, T0), 0.5);
        }
        // Refused: the stream now has a gap, and a spliced frame could read as anything.
        hub.handle(bytes(1, "event: hint\n"), at(1, T0), 0.5);
        let after = hub.handle(bytes(1, BUSY), at(1, T0 + 1_000.0), 0.5);
        assert!(verdict_of(&after).is_none());
        assert_eq!(hub.drops().message_rate, 1);
    }

    #[test]
    fn an_oversized_chunk_is_refused_and_counted() {
        let mut hub = Hub::new(None, Settings::default(), None);
        hub.handle(open(1), at(1, T0), 0.5);
        let big = "a".repeat(protocol::MAX_CHUNK_BYTES + 1);
        assert_eq!(hub.handle(bytes(1, &big), at(1, T0), 0.5).reply, None);
        assert_eq!(hub.drops().oversized_chunks, 1);
        assert!(verdict_of(&hub.handle(bytes(1, BUSY), at(1, T0), 0.5)).is_some(), "the stream goes on");
    }

    #[test]
    fn a_tab_over_its_byte_rate_loses_only_its_own_stream() {
        let mut hub = Hub::new(None, Settings::default(), None);
        hub.handle(open(1), at(1, T0), 0.5);
        hub.handle(open(1), at(2, T0), 0.5);
        let chunk = ":".repeat(protocol::MAX_CHUNK_BYTES);
        for _ in 0..=MAX_BYTES_PER_TAB_PER_SECOND / protocol::MAX_CHUNK_BYTES {
            hub.handle(bytes(1, &chunk), at(1, T0), 0.5);
        }
        assert_eq!(hub.drops().byte_rate, 1);
        assert!(verdict_of(&hub.handle(bytes(1, BUSY), at(1, T0 + 1_000.0), 0.5)).is_none(), "the stream that lost bytes is not judged");
        assert!(verdict_of(&hub.handle(bytes(1, BUSY), at(2, T0), 0.5)).is_some());
    }

    #[test]
    fn page_chosen_markers_are_counted_and_never_shown() {
        let mut hub = Hub::new(None, Settings::default(), None);
        let hooks = CsMessage::CsPageHooks {
            fetch: unbusy::diagnose::conflicts::HookState::Clean,
            xhr: unbusy::diagnose::conflicts::HookState::Clean,
            markers: vec!["Your account is locked: call 555-0100".into(), "deepseek-pp.fetch-hook-installed".into()],
            login_token: Some(true),
        };
        hub.handle(hooks, at(1, T0), 0.5);
        assert_eq!(hub.drops().unknown_markers, 1);
        assert!(hub.state().page_hooks[0].hooks.markers == ["deepseek-pp.fetch-hook-installed"]);
        let view = diagnose(&mut hub, json!({"now_ms": T0}));
        let shown = view.to_json().to_text();
        assert!(!shown.contains("555-0100"), "{shown}");
        assert!(shown.contains("DeepSeek++"));
        assert!(view.report.contains("\"unknown_markers\":1"), "{}", view.report);
    }

    fn finding_ids(view: &PopupView) -> Vec<String> {
        view.findings.iter().map(|f| f.id.clone()).collect()
    }

    #[test]
    fn a_tab_whose_scripts_came_late_is_named_until_it_reloads_in_time() {
        let decode = |v: Value| CsMessage::from_json(&from_serde(v));
        assert_eq!(decode(json!({"type": "cs_page_loaded", "late": true})).unwrap(), CsMessage::CsPageLoaded { late: true });
        assert_eq!(decode(json!({"type": "cs_page_loaded"})).unwrap(), CsMessage::CsPageLoaded { late: false }, "older relays send no field");
        assert!(decode(json!({"type": "cs_page_loaded", "late": "yes"})).is_none());

        let mut hub = Hub::new(None, Settings::default(), None);
        hub.handle(CsMessage::CsPageLoaded { late: false }, at(1, T0), 0.5);
        assert!(!finding_ids(&diagnose(&mut hub, json!({"now_ms": T0}))).contains(&"not-watched-until-reload".to_string()));
        hub.handle(CsMessage::CsPageLoaded { late: true }, at(2, T0), 0.5);
        // A frame of tab 3 came late: frames do not speak for the tab.
        hub.handle(CsMessage::CsPageLoaded { late: true }, Sender { frame_id: 4, ..at(3, T0) }, 0.5);
        let view = diagnose(&mut hub, json!({"now_ms": T0}));
        assert_eq!(finding_ids(&view).first().map(String::as_str), Some("not-watched-until-reload"));
        assert_eq!(view.findings[0].title, "findingWatchFromReload");
        assert_eq!(hub.state().page_hooks.len(), 1, "{:?}", hub.state().page_hooks);

        // Remembered across a stopped worker.
        let stored = to_serde(&hub.state().to_json());
        let mut hub = restore(&stored, &Value::Null, &Value::Null);
        assert!(finding_ids(&diagnose(&mut hub, json!({"now_ms": T0}))).contains(&"not-watched-until-reload".to_string()));

        // The reload: its scripts run in time, the tab is watched again.
        hub.handle(CsMessage::CsPageLoaded { late: false }, at(2, T0 + 1_000.0), 0.5);
        assert!(!finding_ids(&diagnose(&mut hub, json!({"now_ms": T0}))).contains(&"not-watched-until-reload".to_string()));
        // Or the tab is closed.
        hub.handle(CsMessage::CsPageLoaded { late: true }, at(5, T0), 0.5);
        hub.forget_tab(5);
        assert!(hub.state().page_hooks.is_empty());
    }

    #[test]
    fn a_late_load_keeps_no_older_report_and_a_reload_keeps_a_timely_report() {
        let mut hub = Hub::new(None, Settings::default(), None);
        let hooks = CsMessage::CsPageHooks {
            fetch: unbusy::diagnose::conflicts::HookState::ReplacedAfter,
            xhr: unbusy::diagnose::conflicts::HookState::Clean,
            markers: vec![],
            login_token: Some(true),
        };
        hub.handle(hooks, at(1, T0), 0.5);
        // A timely reload keeps what the last document's hook saw (the new one reports 1.5 s after load).
        hub.handle(CsMessage::CsPageLoaded { late: false }, at(1, T0 + 1.0), 0.5);
        assert!(finding_ids(&diagnose(&mut hub, json!({"now_ms": T0}))).contains(&"page-hook:fetch".to_string()));
        // Re-injected after an update: nothing of the old report stands, only "from its next reload".
        hub.handle(CsMessage::CsPageLoaded { late: true }, at(1, T0 + 2.0), 0.5);
        let ids = finding_ids(&diagnose(&mut hub, json!({"now_ms": T0})));
        assert!(ids.contains(&"not-watched-until-reload".to_string()) && !ids.contains(&"page-hook:fetch".to_string()), "{ids:?}");
    }

    #[test]
    fn stored_settings_from_a_newer_version_keep_the_users_values() {
        let stored = json!({"auto_retry": false, "max_attempts": 2, "delay_scale": 3.0, "hidden_tabs": "pause", "notify": true, "theme": "dark"});
        let hub = restore(&Value::Null, &stored, &Value::Null);
        assert_eq!((hub.settings().auto_retry, hub.settings().max_attempts, hub.settings().delay_scale, hub.settings().notify), (false, 2, 3.0, true));
    }

    #[test]
    fn a_garbled_auto_retry_next_to_other_settings_reads_as_off() {
        let mut hub = restore(&Value::Null, &json!({"auto_retry": "yes", "max_attempts": 3}), &Value::Null);
        assert_eq!((hub.settings().auto_retry, hub.settings().max_attempts), (false, 3));
        hub.handle(open(1), at(1, T0), 0.5);
        let out = hub.handle(bytes(1, BUSY), at(1, T0), 0.5);
        assert!(matches!(decision_of(&out), Some(Decision::Stop { reason: StopReason::AutoRetryOff, .. })), "{out:?}");
        assert!(restore(&Value::Null, &Value::Null, &Value::Null).settings().auto_retry, "nothing stored: the defaults");
    }

    #[test]
    fn a_restored_endless_cool_down_still_lets_a_retry_through_within_the_policy_maximum() {
        let mut state = to_serde(&HubState::default().to_json());
        state["budget"]["cooldown_until_ms"] = json!(1e308);
        state["budget"]["updated_ms"] = json!(1e308);
        state["budget"]["last_grant_ms"] = json!(1e308);
        state["budget"]["recent_requests"] = json!([1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308]);
        state["rate_limit_strikes"] = json!(u32::MAX);
        state["latency_ms"] = json!([-1.0, 1e308, 120.0]);
        state["site_crash_at_ms"] = json!(1e308);
        let mut hub = restore(&state, &Value::Null, &Value::Null);
        assert_eq!(hub.state().latency_ms, [120.0]);
        assert_eq!(hub.state().site_crash_at_ms, Some(T0), "a crash screen from the future is moved to now, so it ages out");
        hub.handle(open(1), at(1, T0), 0.5);
        let out = hub.handle(bytes(1, BUSY), at(1, T0), 0.5);
        assert!(matches!(decision_of(&out), Some(Decision::Retry { .. })), "{out:?}");
        hub.handle(CsMessage::CsStreamEnd { stream: 1, end: EndKind::Complete }, at(1, T0), 0.5);
        let longest = restore::longest_wait_ms(&Policy::default());
        // Past the policy's longest wait the restored cool-down holds nothing any more: the tab gets
        // its answer now (a press, or, that late, the deadline's stop), never another wait.
        let due = hub.handle(CsMessage::CsTimerDue, at(1, T0 + longest + 1.0), 0.5);
        match &due.reply {
            Some(BgMessage::BgView { press: Some(_), .. }) => {}
            Some(BgMessage::BgView { timer_ms: None, banner, .. }) => assert_eq!(banner.state, "stopped", "{due:?}"),
            other => panic!("still waiting: {other:?}"),
        }
    }

    #[test]
    fn a_restored_pending_retry_far_in_the_future_waits_no_longer_than_the_policy_maximum() {
        let mut state = to_serde(&HubState::default().to_json());
        state["tabs"] = json!([
            {"tab_id": 1, "attempts": 1, "first_failure_ms": T0, "pending": {"due_ms": 1e308, "attempt": 2, "verdict": {"kind": "busy", "code": "server_busy"}}, "fired_at_ms": null},
            {"tab_id": 2, "attempts": "garbage"}
        ]);
        let mut hub = restore(&state, &Value::Null, &Value::Null);
        assert_eq!(hub.state().tabs.len(), 1, "the damaged tab is dropped, the other kept");
        let longest = restore::longest_wait_ms(&Policy::default());
        match hub.handle(CsMessage::CsTimerDue, at(1, T0), 0.5).reply {
            Some(BgMessage::BgView { timer_ms: Some(delay_ms), press: None, .. }) => {
                assert!(delay_ms as f64 <= longest, "{delay_ms}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_from_storage_does_not_blank_the_popup() {
        let mut hub = restore(&json!({"budget": "x"}), &json!(7), &json!({"hours": [{"busy": u32::MAX, "total": u32::MAX}]}));
        assert_eq!(hub.history().hours.len(), 24);
        let input = json!({
            "now_ms": T0,
            "first_seen": {"ds_session_id|.deepseek.com|/": "yesterday", "other|.deepseek.com|/": T0},
            "recent": [{"kind": "from a newer version"}, {"at_ms": T0, "tab_id": 1, "route": "/api/v0/chat/completion", "transport": "fetch", "verdict": {"kind": "ok"}, "label": "ok"}],
            "cookies": [{"name": "a", "domain": ".deepseek.com", "path": "/", "size": -3}, {"name": "b", "domain": ".deepseek.com", "path": "/", "size": 10, "expires_ms": null}],
            "extensions": "not a list",
            "os": 42
        });
        let view = diagnose(&mut hub, input);
        assert_eq!(view.recent.len(), 1, "the readable event is kept");
        assert!(view.cookies_checked);
        assert!(!view.extensions_checked);
    }

    /// Only route, status, the five selected headers, body bytes of generation routes and the
    /// envelope's error fields may cross from the page: a message carrying anything more is refused.
    #[test]
    fn a_relay_message_carrying_more_than_the_protocol_allows_is_refused() {
        let json_response = |envelope: Value, headers: Value| json!({"type": "cs_json_response", "route": "/api/v0/users/current", "transport": "xhr", "status": 200, "headers": headers, "envelope": envelope});
        let allowed = json_response(json!({"code": 40003, "msg": "x", "biz_code": 5, "biz_msg": "muted", "mute_until": 1}), json!({"retry-after": "5"}));
        assert!(CsMessage::from_json(&from_serde(allowed)).is_some(), "the allowed fields read");
        let account_data = json_response(json!({"code": 0, "biz_data": {"email": "someone@example.org"}}), json!({}));
        assert!(CsMessage::from_json(&from_serde(account_data)).is_none(), "the envelope's data stays in the page");
        let cookie_header = json_response(json!({}), json!({"set-cookie": "ds_session_id=secret"}));
        assert!(CsMessage::from_json(&from_serde(cookie_header)).is_none(), "headers beyond the five stay in the page");
        let prompt = json!({"type": "cs_stream_open", "stream": 1, "route": "/api/v0/chat/completion", "transport": "fetch", "status": 200, "headers": {}, "prompt": "hello"});
        assert!(CsMessage::from_json(&from_serde(prompt)).is_none(), "the request body stays in the page");
    }
}
