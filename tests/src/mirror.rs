//! The real `vouch mirror` as a child process on a loopback port: started with a policy and
//! upstreams, its JSON log lines collected for assertions, stopped when dropped.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `vouch mirror`.
pub struct VouchMirror {
    child: Mutex<Child>,
    /// `127.0.0.1:PORT`.
    pub host: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl VouchMirror {
    /// `vouch --allow-insecure-registry mirror --policy POLICY --listen 127.0.0.1:0
    /// --upstream U…` plus `extra`; waits until it listens.
    pub fn start(policy: &Path, upstreams: &[&str], extra: &[&str]) -> VouchMirror {
        let mut cmd = crate::vouch();
        cmd.args([
            "--allow-insecure-registry",
            "--timeout",
            "10",
            "--retries",
            "1",
            "mirror",
            "--policy",
        ])
        .arg(policy)
        .args(["--listen", "127.0.0.1:0", "--reload-interval", "1"]);
        for u in upstreams {
            cmd.args(["--upstream", u]);
        }
        cmd.args(extra);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn vouch mirror");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                        && v["event"] == "listening"
                    {
                        let _ = tx.send(v["address"].as_str().unwrap_or_default().to_string());
                    }
                    log.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            });
        }
        let host = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(h) => h,
            Err(_) => {
                let _ = child.kill();
                let lines = log.lock().unwrap_or_else(|e| e.into_inner()).join("\n");
                panic!("vouch mirror did not start:\n{lines}");
            }
        };
        VouchMirror {
            child: Mutex::new(child),
            host,
            log,
        }
    }

    /// Every line it wrote to stderr so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Its log lines that are JSON objects with this `event`.
    pub fn events(&self, event: &str) -> Vec<serde_json::Value> {
        self.log()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["event"] == event)
            .collect()
    }

    /// Waits up to `timeout` for an event matching `f`.
    pub fn wait_for(
        &self,
        event: &str,
        timeout: Duration,
        f: impl Fn(&serde_json::Value) -> bool,
    ) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.events(event).iter().any(&f) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host)
    }

    /// Sends SIGHUP (policy reload).
    pub fn hangup(&self) {
        let pid = self.child.lock().unwrap_or_else(|e| e.into_inner()).id();
        let _ = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status();
    }

    /// Its peak resident set so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let pid = self.child.lock().unwrap_or_else(|e| e.into_inner()).id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Whether it still runs.
    pub fn is_running(&self) -> bool {
        matches!(
            self.child
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .try_wait(),
            Ok(None)
        )
    }
}

impl Drop for VouchMirror {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}
