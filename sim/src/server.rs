//! The HTTPS server: a certificate for chat.deepseek.com made at start-up, the chat page, the
//! API routes answered from fixtures, and the request log.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use tokio::net::TcpListener;

use crate::api;
use crate::faults;
use crate::fixtures::Fixture;
use crate::scenario::Scenario;

const PAGE_HTML: &str = include_str!("../page/index.html");
const PAGE_JS: &str = include_str!("../page/chat.js");
const PAGE_CSS: &str = include_str!("../page/chat.css");
/// A page script that attacks Unbusy, loaded only with `?hostile=ATTACK` (see the file).
const HOSTILE_JS: &str = include_str!("../page/hostile.js");
const SCENARIOS: &str = include_str!("../scenarios.txt");
/// The chat page's policy: scripts from the page's own origin only, like a strict production site.
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'";
pub const HOSTNAME: &str = "chat.deepseek.com";
/// The API the fallback asks (`api.rs`), served by the same simulator behind the same mapping.
pub const API_HOSTNAME: &str = "api.deepseek.com";
/// OpenRouter, the fallback's second preset (`api::CORS_HOSTS`).
pub const OPENROUTER_HOSTNAME: &str = "openrouter.ai";

pub struct Options {
    pub port: u16,
    pub fixtures: PathBuf,
    pub log_file: Option<PathBuf>,
    pub frame_delay_ms: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options { port: 0, fixtures: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/wire")), log_file: None, frame_delay_ms: 20 }
    }
}

#[derive(Debug, Clone, Serialize)]
struct LogEntry {
    at_ms: f64,
    run: String,
    method: String,
    path: String,
    /// Position of this request among the run's generation requests (0-based), if it is one.
    attempt: Option<usize>,
    fixture: Option<String>,
    status: u16,
    /// For the API: how many messages the request carried.
    #[serde(skip_serializing_if = "Option::is_none")]
    messages: Option<usize>,
}

#[derive(Default)]
struct Run {
    scenario: Option<Scenario>,
    users: Option<String>,
    generations: usize,
}

struct State {
    options: Options,
    runs: Mutex<HashMap<String, Run>>,
    log: Mutex<Vec<LogEntry>>,
}

// An error from a body aborts the connection mid-body (a fault mode; src/faults.rs).
type Body = BoxBody<Bytes, std::io::Error>;

fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

pub async fn run(options: Options) -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certified =
        rcgen::generate_simple_self_signed(vec![HOSTNAME.to_string(), API_HOSTNAME.to_string(), OPENROUTER_HOSTNAME.to_string()]).map_err(|e| e.to_string())?;
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
    let mut tls = rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(vec![cert], key).map_err(|e| e.to_string())?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

    let listener = TcpListener::bind(("127.0.0.1", options.port)).await.map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    println!("unbusy-sim listening on https://127.0.0.1:{port} (serving {HOSTNAME})");
    let state = Arc::new(State { options, runs: Mutex::default(), log: Mutex::default() });

    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(_) => continue,
        };
        let acceptor = acceptor.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else { return };
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { handle(req, &state).await }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(tls), service).await;
        });
    }
}

fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == key).map(|(_, v)| percent_decode(v))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|hex| u8::from_str_radix(hex, 16).ok()).ok_or(()) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).map_err(|never| match never {}).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert("content-type", content_type.parse().expect("static content type"));
    response.headers_mut().insert("cache-control", "no-store".parse().expect("static header"));
    response
}

async fn handle(req: Request<Incoming>, state: &State) -> Result<Response<Body>, faults::Reset> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let run = req
        .headers()
        .get("x-sim-run")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| query_param(&query, "run"))
        .unwrap_or_else(|| "default".into());
    let authorization = req.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let host = req.headers().get("host").and_then(|v| v.to_str().ok()).map(|h| h.split(':').next().unwrap_or_default().to_owned()).unwrap_or_default();
    let cors = api::CORS_HOSTS.contains(&host.as_str());
    // Only the API reads the body; the chat's routes drain it.
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();

    let (response, attempt, fixture, messages) = if method == Method::OPTIONS && path.ends_with("/chat/completions") {
        // A browser's preflight: only a CORS host lets the page's script go on.
        let mut response = full(if cors { StatusCode::NO_CONTENT } else { StatusCode::FORBIDDEN }, "text/plain", "");
        if cors {
            for (name, value) in
                [("access-control-allow-methods", "POST"), ("access-control-allow-headers", "authorization, content-type"), ("access-control-max-age", "600")]
            {
                response.headers_mut().insert(name, value.parse().expect("static header"));
            }
        }
        (response, None, Some("api:preflight".into()), None)
    } else if method == Method::POST && path.ends_with("/chat/completions") {
        let asked = api::asked(authorization.as_deref(), &body);
        let behaviour = asked.as_ref().map(|a| format!("api:{}", a.key.as_deref().unwrap_or("none")));
        (faults::response(api::plan(asked.as_ref())), None, behaviour, asked.map(|a| a.messages))
    } else {
        let (response, attempt, fixture) = route(state, &method, &path, &query, &run);
        (response, attempt, fixture, None)
    };
    let mut response = response;
    if cors {
        response.headers_mut().insert("access-control-allow-origin", "*".parse().expect("static header"));
        response.headers_mut().insert("access-control-expose-headers", "retry-after".parse().expect("static header"));
    }
    if !path.starts_with("/__sim/") {
        let entry = LogEntry { at_ms: now_ms(), run, method: method.to_string(), path, attempt, fixture, status: response.status().as_u16(), messages };
        if let Some(file) = &state.options.log_file {
            if let Ok(line) = serde_json::to_string(&entry) {
                use std::io::Write;
                if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(file) {
                    let _ = writeln!(f, "{line}");
                }
            }
        }
        state.log.lock().expect("log lock").push(entry);
    }
    match response.extensions().get::<faults::Reset>() {
        Some(reset) => Err(*reset),
        None => Ok(response),
    }
}

fn route(state: &State, method: &Method, path: &str, query: &str, run: &str) -> (Response<Body>, Option<usize>, Option<String>) {
    let generation =
        path.starts_with("/api/v0/chat/") && ["completion", "regenerate", "continue", "edit_message", "resume_stream"].iter().any(|r| path.ends_with(r));
    match (method, path) {
        (&Method::GET, "/") => (chat_page(state, query, run), None, None),
        // A conversation's own address (the app moves there in place; a reload loads it).
        (&Method::GET, _) if path.starts_with("/a/chat/s/") => (chat_page(state, query, run), None, None),
        (&Method::GET, "/static/chat.js") => (full(StatusCode::OK, "text/javascript; charset=utf-8", PAGE_JS), None, None),
        (&Method::GET, "/static/hostile.js") => (full(StatusCode::OK, "text/javascript; charset=utf-8", HOSTILE_JS), None, None),
        (&Method::GET, "/static/chat.css") => (full(StatusCode::OK, "text/css; charset=utf-8", PAGE_CSS), None, None),
        (&Method::GET, "/favicon.ico") => (full(StatusCode::NO_CONTENT, "image/x-icon", ""), None, None),
        (&Method::GET, "/__sim/health") => (full(StatusCode::OK, "text/plain", "ok"), None, None),
        (&Method::GET, "/__sim/log") => {
            let wanted = query_param(query, "run");
            let log = state.log.lock().expect("log lock");
            let entries: Vec<&LogEntry> = log.iter().filter(|e| wanted.as_deref().is_none_or(|w| e.run == w)).collect();
            (full(StatusCode::OK, "application/json", serde_json::to_string(&entries).unwrap_or_default()), None, None)
        }
        (&Method::POST, _) if generation => {
            let (fixture, attempt) = {
                let mut runs = state.runs.lock().expect("runs lock");
                let entry = runs.entry(run.to_string()).or_default();
                let attempt = entry.generations;
                entry.generations += 1;
                let fixture = entry.scenario.as_ref().map_or("gen3_ok", |s| s.fixture_for(attempt)).to_string();
                (fixture, attempt)
            };
            // `name@hang`: after its last frame the response stays open, silent (a dead stream).
            let (name, hang) = match fixture.strip_suffix("@hang") {
                Some(name) => (name.to_string(), true),
                None => (fixture.clone(), false),
            };
            (serve(state, &name, hang), Some(attempt), Some(fixture))
        }
        (&Method::GET, "/api/v0/users/current") => {
            let fixture = state.runs.lock().expect("runs lock").get(run).and_then(|r| r.users.clone()).unwrap_or_else(|| "route_users_current_ok".into());
            (serve_fixture(state, &fixture), None, Some(fixture))
        }
        (&Method::POST, "/api/v0/chat/create_pow_challenge") => (serve_fixture(state, "route_pow_challenge_ok"), None, None),
        (&Method::POST, "/api/v0/chat_session/create") => (serve_fixture(state, "route_session_create_ok"), None, None),
        (&Method::POST, "/api/v0/chat/stop_stream") => {
            (full(StatusCode::OK, "application/json", r#"{"code":0,"msg":"","data":{"biz_code":0,"biz_msg":"","biz_data":null}}"#), None, None)
        }
        _ => (full(StatusCode::NOT_FOUND, "text/plain", "not found"), None, None),
    }
}

/// The chat page for one test run:
/// `?run=ID&scenario=NAME_OR_SPEC&transport=xhr|fetch&users=FIXTURE&control=shape|svg|label&crash_after_ms=N&hostile=ATTACK&measure=1`.
fn chat_page(state: &State, query: &str, run: &str) -> Response<Body> {
    let scenario_text = query_param(query, "scenario").unwrap_or_else(|| "ok".into());
    let scenario = match Scenario::named_or_spec(SCENARIOS, &scenario_text) {
        Ok(s) => s,
        Err(e) => return full(StatusCode::BAD_REQUEST, "text/plain", format!("scenario: {e}")),
    };
    // XHR first: the live page streamed over XMLHttpRequest in September 2026.
    let transport = match query_param(query, "transport").as_deref() {
        Some("fetch") => "fetch",
        _ => "xhr",
    };
    let control = match query_param(query, "control").as_deref() {
        Some("svg") => "svg",
        Some("label") => "label",
        _ => "shape",
    };
    let crash_after_ms = query_param(query, "crash_after_ms").and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
    {
        let mut runs = state.runs.lock().expect("runs lock");
        let entry = runs.entry(run.to_string()).or_default();
        entry.scenario = Some(scenario);
        entry.users = query_param(query, "users");
    }
    let html = PAGE_HTML
        .replace("{{RUN}}", &html_escape(run))
        .replace("{{TRANSPORT}}", transport)
        .replace("{{CONTROL}}", control)
        .replace("{{CRASH_AFTER_MS}}", &crash_after_ms.to_string())
        .replace("{{MEASURE}}", if query_param(query, "measure").as_deref() == Some("1") { "1" } else { "0" });
    let html = match query_param(query, "hostile") {
        Some(attack) => html.replacen(
            "</head>",
            &format!("<meta name=\"sim-hostile\" content=\"{}\">\n<script src=\"/static/hostile.js\" defer></script>\n</head>", html_escape(&attack)),
            1,
        ),
        None => html,
    };
    let mut response = full(StatusCode::OK, "text/html; charset=utf-8", html);
    response.headers_mut().insert("content-security-policy", PAGE_CSP.parse().expect("static CSP"));
    response
}

fn serve_fixture(state: &State, name: &str) -> Response<Body> {
    serve(state, name, false)
}

/// How long a hanging response stays open after its last frame.
const HANG: Duration = Duration::from_secs(600);

fn serve(state: &State, name: &str, hang: bool) -> Response<Body> {
    let (name, faults) = faults::split(name).unwrap_or((name, Vec::new()));
    let fixture = match Fixture::load(&state.options.fixtures, name) {
        Ok(f) => f,
        Err(e) => return full(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", e),
    };
    if !faults.is_empty() {
        return match faults::plan(&fixture, &faults, state.options.frame_delay_ms) {
            Ok(plan) => faults::response(plan),
            Err(e) => full(StatusCode::BAD_REQUEST, "text/plain", e),
        };
    }
    let frames = fixture.frames();
    let delay = Duration::from_millis(state.options.frame_delay_ms);
    let stream = futures_util::stream::unfold((frames.into_iter(), true), move |(mut frames, first)| async move {
        let Some(frame) = frames.next() else {
            if hang {
                tokio::time::sleep(HANG).await;
            }
            return None;
        };
        if !first {
            tokio::time::sleep(delay).await;
        }
        Some((Ok::<_, std::io::Error>(Frame::data(Bytes::from(frame))), (frames, false)))
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    *response.status_mut() = StatusCode::from_u16(fixture.status).unwrap_or(StatusCode::OK);
    for (name, value) in &fixture.headers {
        if let (Ok(name), Ok(value)) = (hyper::header::HeaderName::from_bytes(name.as_bytes()), value.parse()) {
            response.headers_mut().insert(name, value);
        }
    }
    response.headers_mut().insert("cache-control", "no-store".parse().expect("static header"));
    response
}
