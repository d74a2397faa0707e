//! The ledger of billable remote streams: every stream created on Daydream is written to
//! `<state_dir>/remote_streams.json` as soon as its id is known and struck off once Daydream
//! confirms the delete. Whatever a crash leaves in it is deleted on the next start.
//!
//! Streams of the local backend are not recorded: they end with the process.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::daydream::{DaydreamClient, DaydreamError};
use crate::telemetry::escaped;

const FILE: &str = "remote_streams.json";

/// A remote stream the relay created and has not yet deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Daydream's stream id.
    pub id: String,
    /// The API base it was created on.
    pub api_url: String,
}

/// The records, kept in memory and written through to the state file.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    // A tokio mutex held across the file write, so writes land in the order of the changes.
    records: tokio::sync::Mutex<Vec<Record>>,
}

impl Ledger {
    /// Loads the ledger of `state_dir`; an unreadable file is reported and replaced.
    pub fn load(state_dir: &std::path::Path) -> Self {
        let path = state_dir.join(FILE);
        let records = crate::state_files::read_json(&path).unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable list of remote streams");
            None
        });
        Self {
            path,
            records: tokio::sync::Mutex::new(records.unwrap_or_default()),
        }
    }

    /// Records a stream created through `client`.
    pub async fn add(&self, client: &DaydreamClient, id: &str) {
        let mut records = self.records.lock().await;
        records.push(Record {
            id: id.to_owned(),
            api_url: client.base().to_string(),
        });
        self.write(records.clone()).await;
    }

    /// Deletes a stream through `client` and strikes it off once Daydream confirms.
    pub async fn delete(&self, client: &DaydreamClient, id: &str) -> Result<(), DaydreamError> {
        client.delete_stream(id).await?;
        let mut records = self.records.lock().await;
        let before = records.len();
        records.retain(|r| r.id != id);
        if records.len() != before {
            self.write(records.clone()).await;
        }
        Ok(())
    }

    /// The streams still recorded.
    pub async fn records(&self) -> Vec<Record> {
        self.records.lock().await.clone()
    }

    /// Deletes what an earlier run left behind, through `client` when it talks to the same API;
    /// records of another API stay until a run with that API deletes them.
    pub async fn clean_up(&self, client: Arc<DaydreamClient>) {
        let base = client.base().to_string();
        for record in self.records().await {
            if record.api_url != base {
                tracing::warn!(stream = %escaped(&record.id), api_url = %escaped(&record.api_url), "a stream left by an earlier run belongs to another API URL; not deleted");
                continue;
            }
            match self.delete(&client, &record.id).await {
                Ok(()) => {
                    tracing::warn!(stream = %escaped(&record.id), "deleted a remote stream left by an earlier run");
                }
                Err(e) => {
                    tracing::warn!(stream = %escaped(&record.id), error = %escaped(&e), "cannot delete a remote stream left by an earlier run");
                }
            }
        }
    }

    async fn write(&self, records: Vec<Record>) {
        let path = self.path.clone();
        let written = crate::blocking(move || crate::state_files::write_json(&path, &records))
            .await
            .map_err(|e| e.to_string())
            .and_then(|written| written.map_err(|e| e.to_string()));
        if let Err(e) = written {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot record remote streams");
        }
    }
}
