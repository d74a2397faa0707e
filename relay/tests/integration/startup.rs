//! Start-up: which `.env` file the relay reads, and errors that name the file at fault.

use std::path::Path;
use std::time::Duration;

use crate::common::{RelayProcess, TOKEN};

/// Runs the binary with `env`, expecting it to fail at start; returns its standard error.
async fn failed_start(env: &[(&str, &Path)]) -> String {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_rtc-relay"))
        .args(["--addr", "127.0.0.1:0"])
        .env_remove("DAYDREAM_API_KEY")
        .env_remove("RTC_RELAY_TOKEN")
        .env_remove("RTC_ENV_FILE")
        .env("RTC_BACKEND", "local")
        .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the relay gives up in time")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "the relay started: {stderr}");
    stderr
}

async fn status_for_host(relay: &RelayProcess, host: &str) -> u16 {
    reqwest::Client::new()
        .get(relay.url("/v1/streams"))
        .bearer_auth(TOKEN)
        .header("host", host)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn dotenv_is_read_only_from_the_file_rtc_env_file_names() {
    let folder = tempfile::tempdir().unwrap();
    let dotenv = folder.path().join(".env");
    std::fs::write(&dotenv, "RTC_RELAY_ALLOWED_HOSTS=from-dotenv.example\n").unwrap();
    let nested = folder.path().join("ComfyUI").join("output");
    std::fs::create_dir_all(&nested).unwrap();

    // Started in the folder of a `.env`, or below it, the relay ignores that file.
    for cwd in [folder.path(), nested.as_path()] {
        let relay = RelayProcess::spawn_in(cwd, &[]).await;
        assert_eq!(status_for_host(&relay, "from-dotenv.example").await, 403);
        assert_eq!(status_for_host(&relay, "localhost").await, 200);
    }
    // Named explicitly, it is read.
    let relay = RelayProcess::spawn(&[("RTC_ENV_FILE", dotenv.to_str().unwrap())]).await;
    assert_eq!(status_for_host(&relay, "from-dotenv.example").await, 200);

    let missing = folder.path().join("nope.env");
    let stderr = failed_start(&[("RTC_ENV_FILE", &missing)]).await;
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(stderr.contains("RTC_ENV_FILE"), "{stderr}");
}

#[tokio::test]
async fn start_up_errors_name_the_file_and_what_to_do() {
    let root = tempfile::tempdir().unwrap();

    // The state folder is a file.
    let file_as_dir = root.path().join("state-file");
    std::fs::write(&file_as_dir, "not a folder").unwrap();
    let stderr = failed_start(&[("RTC_RELAY_STATE_DIR", &file_as_dir)]).await;
    assert!(
        stderr.contains(&file_as_dir.display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("RTC_RELAY_STATE_DIR"), "{stderr}");

    // The token file is a folder.
    let state = root.path().join("state-token");
    let token = state.join("token");
    std::fs::create_dir_all(&token).unwrap();
    let stderr = failed_start(&[("RTC_RELAY_STATE_DIR", &state)]).await;
    assert!(stderr.contains(&token.display().to_string()), "{stderr}");
    assert!(stderr.contains("move the folder away"), "{stderr}");

    // The stored credentials are a folder.
    let state = root.path().join("state-credentials");
    let credentials = state.join("credentials.json");
    std::fs::create_dir_all(&credentials).unwrap();
    std::fs::write(state.join("token"), "a-token-of-some-length").unwrap();
    let stderr = failed_start(&[("RTC_RELAY_STATE_DIR", &state)]).await;
    assert!(
        stderr.contains(&credentials.display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("move the folder away"), "{stderr}");
}
