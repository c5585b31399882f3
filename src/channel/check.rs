//! `herald channels check`: every channel of herald.yaml reached without sending anything, and
//! what answered (or what is wrong) in words.

use std::time::Duration;

use super::transport::Transport;
use crate::config::{Config, Kind};

/// One channel's verdict.
pub struct Verdict {
    pub name: String,
    pub kind: &'static str,
    pub result: Result<String, String>,
}

/// Checks each channel in turn, each within its `timeout` (and never longer than 30 s).
pub fn check(config: &Config) -> std::io::Result<Vec<Verdict>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut verdicts = Vec::new();
    for channel in &config.channels {
        let limit = channel.timeout.min(Duration::from_secs(30));
        let result = match &channel.kind {
            Kind::Log { outbox } => log(outbox.as_deref()),
            _ => match Transport::build(channel, config.server.as_ref()) {
                Ok(Some(transport)) => runtime.block_on(async {
                    match tokio::time::timeout(limit, transport.check()).await {
                        Ok(result) => result,
                        Err(_) => Err(format!("no answer within {}s", limit.as_secs_f64())),
                    }
                }),
                Ok(None) => Ok("nothing to reach".to_string()),
                Err(reason) => Err(reason),
            },
        };
        verdicts.push(Verdict { name: channel.name.clone(), kind: channel.kind.word(), result });
    }
    Ok(verdicts)
}

fn log(outbox: Option<&std::path::Path>) -> Result<String, String> {
    let Some(path) = outbox else { return Ok("writes one JSON line per action to stdout".into()) };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    if !dir.is_dir() {
        return Err(format!("the folder of its outbox {} does not exist", path.display()));
    }
    Ok(format!("appends one JSON line per action to {}", path.display()))
}
