//! The simulator plays an OpenAI-compatible chat completions API too (the API fallback):
//! `POST …/chat/completions` on any host the tests map to it (DeepSeek's API answers at
//! `https://api.deepseek.com/chat/completions`). What it does is chosen by the key, as a test picks
//! it the way a user enters one:
//!
//! | key | answer |
//! |---|---|
//! | `sk-ok` | a streamed answer (with reasoning for `deepseek-reasoner`) and usage |
//! | `sk-queue` | keep-alive comments and empty lines while "queued", then the answer |
//! | `sk-bad` | 401 | `sk-broke` | 402 | `sk-busy` | 503 | `sk-error` | 500 |
//! | `sk-rate` | 429 with `Retry-After: 7` |
//! | `sk-starved` | some text, then `finish_reason: "insufficient_system_resource"` |
//! | `sk-cut` | some text, then the connection drops |
//!
//! On `CORS_HOSTS` every answer (and the preflight) lets any origin read it. No key is a 401 too; a body that is not JSON is a 400; a model other than DeepSeek's two is a
//! 422. Without `"stream": true` the answer comes whole, as one JSON object.

use serde_json::{json, Value};

use crate::faults::{End, Plan};

/// DeepSeek's own names, and OpenRouter's for the same models.
pub const MODELS: [&str; 4] = ["deepseek-chat", "deepseek-reasoner", "deepseek/deepseek-chat", "deepseek/deepseek-r1"];
/// Hosts that let a web page's script call them (CORS), as OpenRouter does. DeepSeek's API is
/// reported to refuse browsers' preflights: there, only an extension with the host permission
/// gets through (the browser skips CORS for it).
pub const CORS_HOSTS: [&str; 1] = ["openrouter.ai"];
/// The answer's text, in pieces as a model streams them (Markdown, and a link the panel must keep safe).
const ANSWER: [&str; 4] = ["Here is **the answer**", " you asked for", ":\n\n- one\n- two\n\n", "[docs](https://api-docs.deepseek.com/)"];
const REASONING: [&str; 2] = ["The user asks", " something simple."];
/// Time between frames, and between keep-alives while queued.
const FRAME_MS: u64 = 40;
const KEEP_ALIVE_MS: u64 = 300;

/// What the request asked for, as far as the answer depends on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Asked {
    pub key: Option<String>,
    pub model: Option<String>,
    pub stream: bool,
    /// How many messages the request carried (the fallback sends one unless the user adds more).
    pub messages: usize,
}

/// Reads the request; `None` if its body is not a JSON object.
pub fn asked(authorization: Option<&str>, body: &[u8]) -> Option<Asked> {
    let body: Value = serde_json::from_slice(body).ok().filter(Value::is_object)?;
    Some(Asked {
        key: authorization.and_then(|a| a.strip_prefix("Bearer ")).map(str::to_owned),
        model: body["model"].as_str().map(str::to_owned),
        stream: body["stream"].as_bool().unwrap_or(false),
        messages: body["messages"].as_array().map_or(0, Vec::len),
    })
}

fn error(status: u16, message: &str) -> Plan {
    let body = json!({ "error": { "message": message, "type": "invalid_request_error" } }).to_string();
    Plan { status, headers: vec![("content-type".into(), "application/json".into())], chunks: vec![(0, body.into_bytes())], end: End::Clean, reset: false }
}

fn frame(value: Value) -> Vec<u8> {
    format!("data: {value}\n\n").into_bytes()
}

fn delta(model: &str, delta: Value, finish: Option<&str>) -> Value {
    json!({ "id": "sim", "object": "chat.completion.chunk", "model": model, "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
}

/// The response a request gets.
pub fn plan(asked: Option<&Asked>) -> Plan {
    let Some(asked) = asked else { return error(400, "Failed to parse the request body as JSON") };
    let key = asked.key.as_deref().unwrap_or("");
    match key {
        "sk-ok" | "sk-queue" | "sk-starved" | "sk-cut" => {}
        "sk-broke" => return error(402, "Insufficient Balance"),
        "sk-busy" => return error(503, "Server overloaded, please try again later"),
        "sk-error" => return error(500, "Internal server error"),
        "sk-rate" => {
            let mut limited = error(429, "Rate limit reached");
            limited.headers.push(("retry-after".into(), "7".into()));
            return limited;
        }
        _ => return error(401, "Authentication Fails, Your api key is invalid"),
    }
    let model = asked.model.as_deref().unwrap_or("");
    if !MODELS.contains(&model) {
        return error(422, "Model Not Exist");
    }
    let reasoning: &[&str] = if matches!(model, "deepseek-reasoner" | "deepseek/deepseek-r1") { &REASONING } else { &[] };
    if !asked.stream {
        let message = json!({ "role": "assistant", "content": ANSWER.concat(), "reasoning_content": (!reasoning.is_empty()).then(|| reasoning.concat()) });
        let body = json!({ "id": "sim", "object": "chat.completion", "model": model, "choices": [{ "index": 0, "message": message, "finish_reason": "stop" }], "usage": { "prompt_tokens": 9, "completion_tokens": 21 } });
        return Plan {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            chunks: vec![(0, body.to_string().into_bytes())],
            end: End::Clean,
            reset: false,
        };
    }
    let mut chunks: Vec<(u64, Vec<u8>)> = Vec::new();
    if key == "sk-queue" {
        // DeepSeek keeps a queued request open with keep-alive comments (and empty lines).
        chunks.extend([(0, b": keep-alive\n\n".to_vec()), (KEEP_ALIVE_MS, b"\n".to_vec()), (KEEP_ALIVE_MS, b": keep-alive\n\n".to_vec())]);
    }
    chunks.extend(reasoning.iter().map(|piece| (FRAME_MS, frame(delta(model, json!({ "reasoning_content": piece }), None)))));
    let pieces = if matches!(key, "sk-starved" | "sk-cut") { &ANSWER[..2] } else { &ANSWER[..] };
    chunks.extend(pieces.iter().map(|piece| (FRAME_MS, frame(delta(model, json!({ "content": piece }), None)))));
    let end = match key {
        "sk-cut" => End::Abort,
        "sk-starved" => {
            chunks.push((FRAME_MS, frame(delta(model, json!({}), Some("insufficient_system_resource")))));
            End::Clean
        }
        _ => {
            let mut last = delta(model, json!({}), Some("stop"));
            last["usage"] = json!({ "prompt_tokens": 9, "completion_tokens": 21 });
            chunks.push((FRAME_MS, frame(last)));
            chunks.push((0, b"data: [DONE]\n\n".to_vec()));
            End::Clean
        }
    };
    let headers = vec![("content-type".into(), "text/event-stream; charset=utf-8".into())];
    Plan { status: 200, headers, chunks, end, reset: false }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbusy::api_answer::{ApiEvent, ApiFailure, ApiStream};

    fn request(key: &str, model: &str) -> Asked {
        let body = json!({ "model": model, "stream": true, "messages": [{ "role": "user", "content": "Hi" }] }).to_string();
        asked(Some(&format!("Bearer {key}")), body.as_bytes()).expect("a JSON body")
    }

    /// What the core makes of a plan, read the way the background will read it.
    fn read(plan: &Plan) -> Vec<ApiEvent> {
        if let Some(failure) = ApiFailure::of_status(plan.status, plan.headers.iter().find(|(n, _)| n == "retry-after").map(|(_, v)| v.as_str()), 0) {
            return vec![ApiEvent::Failed(failure)];
        }
        let mut stream = ApiStream::new();
        let mut events: Vec<ApiEvent> = plan.chunks.iter().flat_map(|(_, bytes)| stream.push(bytes)).collect();
        events.extend(stream.end());
        events
    }

    #[test]
    fn every_key_plays_its_row_and_the_core_reads_each_as_meant() {
        let last = |key: &str| read(&plan(Some(&request(key, "deepseek-chat")))).pop();
        assert_eq!(last("sk-ok"), Some(ApiEvent::Finished));
        assert_eq!(last("sk-queue"), Some(ApiEvent::Finished));
        assert_eq!(last("sk-bad"), Some(ApiEvent::Failed(ApiFailure::BadKey)));
        assert_eq!(last("sk-broke"), Some(ApiEvent::Failed(ApiFailure::NoBalance)));
        assert_eq!(last("sk-busy"), Some(ApiEvent::Failed(ApiFailure::Overloaded)));
        assert_eq!(last("sk-error"), Some(ApiEvent::Failed(ApiFailure::ServerError)));
        assert_eq!(last("sk-rate"), Some(ApiEvent::Failed(ApiFailure::RateLimited { retry_after_secs: Some(7) })));
        assert_eq!(last("sk-starved"), Some(ApiEvent::Failed(ApiFailure::NoResources)));
        assert_eq!(last("sk-cut"), Some(ApiEvent::Failed(ApiFailure::Cut)));
        assert_eq!(plan(Some(&request("sk-cut", "deepseek-chat"))).end, End::Abort, "the connection drops");
        assert_eq!(read(&plan(Some(&request("sk-ok", "gpt-9")))), [ApiEvent::Failed(ApiFailure::InvalidParameters)]);
        assert_eq!(read(&plan(None)), [ApiEvent::Failed(ApiFailure::BadRequest)]);
    }

    #[test]
    fn the_reasoner_streams_its_reasoning_before_the_answer() {
        let events = read(&plan(Some(&request("sk-ok", "deepseek-reasoner"))));
        assert_eq!(events[0], ApiEvent::Reasoning(REASONING[0].into()));
        let text: String = events.iter().filter_map(|e| if let ApiEvent::Content(t) = e { Some(t.as_str()) } else { None }).collect();
        assert_eq!(text, ANSWER.concat());
        assert!(events.contains(&ApiEvent::Usage { prompt_tokens: 9, completion_tokens: 21 }));
    }

    #[test]
    fn the_request_is_read_for_key_model_stream_and_message_count() {
        let body = br#"{"model":"deepseek-chat","stream":true,"messages":[{"role":"user","content":"a"}]}"#;
        let asked = asked(Some("Bearer sk-ok"), body).expect("JSON");
        assert_eq!((asked.key.as_deref(), asked.messages, asked.stream), (Some("sk-ok"), 1, true));
        assert_eq!(super::asked(None, b"not json"), None);
        assert_eq!(super::asked(None, b"[1]"), None, "an object only");
    }
}
