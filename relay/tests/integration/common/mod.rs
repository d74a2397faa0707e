//! A real relay on port 0 with a private state folder, and helpers to talk to it.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use rtc_relay::config::{Config, Secret};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const TOKEN: &str = "test-token-0123456789";
/// The local backend's key in tests (generated at start in production).
pub const LOCAL_KEY: &str = "test-local-key-0123456789";

/// A running relay.
pub struct Relay {
    pub addr: std::net::SocketAddr,
    pub http: reqwest::Client,
    pub state_dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Settings for tests: fast retries and polls, a private state folder, a known token.
pub fn test_config(state_dir: &std::path::Path) -> Config {
    let mut config = Config::parse_from(["rtc-relay"]);
    config.api_key = None;
    config.backend = None;
    config.token = Some(Secret::new(TOKEN));
    config.local_key = Some(Secret::new(LOCAL_KEY));
    config.state_dir = Some(state_dir.to_path_buf());
    config.retry_base_ms = 10;
    config.retry_cap_ms = 40;
    config.upstream_attempts = 6;
    config.upstream_timeout_ms = 2_000;
    config.status_interval_ms = 100;
    config.shutdown_grace_ms = 2_000;
    config
}

impl Relay {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), configure).await
    }

    /// Starts a relay on the state folder of an earlier one (see [`Relay::crash`]).
    pub async fn start_in(
        state_dir: tempfile::TempDir,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = test_config(state_dir.path());
        configure(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(rtc_relay::serve_until(listener, config, async move {
            let _ = rx.await;
        }));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let relay = Self {
            addr,
            http,
            state_dir,
            stop: Some(tx),
            handle,
        };
        relay.wait_healthy().await;
        relay
    }

    async fn wait_healthy(&self) {
        for _ in 0..200 {
            if let Ok(r) = self.http.get(self.url("/healthz")).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("relay did not become healthy");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(TOKEN)
    }

    /// A call to the local backend's REST with its key, as the relay's own client makes it.
    pub fn local(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(&format!("/local{path}")))
            .bearer_auth(LOCAL_KEY)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::GET, path)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::POST, path)
    }

    pub fn patch(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::PATCH, path)
    }

    pub fn put(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::PUT, path)
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::DELETE, path)
    }

    /// Creates a stream and returns the Stream object.
    pub async fn create_stream(&self, body: Value) -> Value {
        let response = self.post("/v1/streams").json(&body).send().await.unwrap();
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
        response.json().await.unwrap()
    }

    pub async fn default_stream(&self) -> Value {
        self.create_stream(json!({"name": "test",
            "pipeline_config": {"pipeline": "streamdiffusion",
                "params": {"model_id": "stabilityai/sdxl-turbo", "prompt": "a"}}}))
            .await
    }

    /// POSTs raw pixels with the frame headers; `format: None` leaves the route's default.
    pub async fn post_pixels(
        &self,
        path: &str,
        width: u32,
        height: u32,
        format: Option<&str>,
        pixels: Vec<u8>,
    ) -> reqwest::Response {
        let mut request = self
            .post(path)
            .header("content-type", "application/octet-stream")
            .header("x-frame-width", width.to_string())
            .header("x-frame-height", height.to_string());
        if let Some(format) = format {
            request = request.header("x-frame-format", format);
        }
        request.body(pixels).send().await.unwrap()
    }

    /// `GET path` with the token, expecting 200 and a JSON body.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).send().await.unwrap();
        assert_eq!(
            response.status(),
            200,
            "{path}: {:?}",
            response.text().await
        );
        response.json().await.unwrap()
    }

    /// The local backend's journal of served calls.
    pub async fn journal(&self) -> Vec<Value> {
        let body = self.get_json("/local/_faults").await;
        body["journal"].as_array().unwrap().clone()
    }

    pub async fn set_faults(&self, rules: Value) {
        let r = self
            .put("/local/_faults")
            .json(&json!({ "rules": rules }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
    }

    /// Ends the relay without its shutdown, as a crash would; returns its state folder.
    pub async fn crash(self) -> tempfile::TempDir {
        self.handle.abort();
        let _ = self.handle.await;
        self.state_dir
    }

    /// Calls of one route the local backend served.
    pub async fn calls(&self, route: &str) -> Vec<Value> {
        self.journal()
            .await
            .into_iter()
            .filter(|e| e["route"] == route)
            .collect()
    }

    /// Stops the relay the way SIGTERM does and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.handle)
            .await
            .expect("relay stops in time")
            .unwrap()
            .unwrap();
    }
}

/// The real `rtc-relay` binary as a child process, on port 0 with a private state folder.
pub struct RelayProcess {
    pub child: tokio::process::Child,
    pub addr: std::net::SocketAddr,
    /// The log lines after the listening line.
    pub log: tokio::sync::mpsc::UnboundedReceiver<String>,
    _state_dir: tempfile::TempDir,
}

impl RelayProcess {
    /// Starts the binary with the test token and `env`, and waits for its listening line.
    pub async fn spawn(env: &[(&str, &str)]) -> Self {
        Self::spawn_in(&std::env::current_dir().unwrap(), env).await
    }

    /// [`RelayProcess::spawn`] with `cwd` as the working folder.
    pub async fn spawn_in(cwd: &std::path::Path, env: &[(&str, &str)]) -> Self {
        use tokio::io::AsyncBufReadExt;

        let state_dir = tempfile::tempdir().unwrap();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rtc-relay"))
            .current_dir(cwd)
            .args(["--addr", "127.0.0.1:0"])
            .env_remove("DAYDREAM_API_KEY")
            .env_remove("RUST_LOG")
            .env_remove("RTC_ENV_FILE")
            .env("RTC_RELAY_TOKEN", TOKEN)
            .env("RTC_RELAY_STATE_DIR", state_dir.path())
            .env("RTC_BACKEND", "local")
            .env("RTC_LOG", "info")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    return rest.split_whitespace().next().unwrap().parse().unwrap();
                }
            }
            panic!("the relay exited before listening");
        })
        .await
        .expect("the relay listens in time");
        // Keep draining the log so the relay never blocks on a full pipe.
        let (tx, log) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = tx.send(line);
            }
        });
        Self {
            child,
            addr,
            log,
            _state_dir: state_dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Asserts the relay's error shape and code.
pub async fn expect_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "status for {code}");
    let body: Value = response.json().await.expect("JSON error body");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens the agent socket and says hello; returns the socket and the agent id.
pub async fn agent(relay: &Relay, publish: bool) -> (Ws, String) {
    agent_with(
        relay,
        json!({"type": "hello", "protocol": 1, "label": "test", "publish": publish}),
    )
    .await
}

/// Opens the agent socket with the token, without saying anything.
pub async fn connect(relay: &Relay) -> Ws {
    let mut request = format!("ws://{}/v1/agent", relay.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

pub async fn agent_with(relay: &Relay, hello: Value) -> (Ws, String) {
    let mut ws = connect(relay).await;
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    let welcome = next_json(&mut ws).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    let id = welcome["agent_id"].as_str().unwrap().to_owned();
    (ws, id)
}

/// Next text message as JSON (pings are answered by reading).
pub async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("message in time")
            .expect("socket open")
            .expect("no socket error");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// Next text message of a given type, skipping others (and binary frames).
pub async fn next_of_type(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let message = next_json(ws).await;
        if message["type"] == kind {
            return message;
        }
    }
}

/// Next binary message.
pub async fn next_binary(ws: &mut Ws) -> Vec<u8> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("frame in time")
            .expect("socket open")
            .expect("no socket error");
        if let Message::Binary(data) = message {
            return data.to_vec();
        }
    }
}
