//! A file-backed value (a policy) that is reloaded when the file changes or on SIGHUP, and
//! replaced only by a value that loads: a new file that does not validate is logged and
//! refused, and the old value stays in force.
//!
//! Changes are found by polling the file's metadata (length, modification time, inode), which
//! also sees Kubernetes ConfigMap updates (a symlink swapped to a new directory).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// Loads the value from its file, or says why not.
pub type Loader<T> = Arc<dyn Fn(&Path) -> Result<T, String> + Send + Sync>;

/// The current value, its generation (1 for the first load, +1 per reload) and its source.
pub struct Watched<T> {
    path: PathBuf,
    state: RwLock<(Arc<T>, u64)>,
    stamp: std::sync::Mutex<Option<Stamp>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

pub(crate) fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        inode,
    })
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The file did not change.
    Unchanged,
    /// The new value is in force, with this generation.
    Replaced(u64),
    /// The new file did not load; the old value stays. The reason.
    Refused(String),
}

impl<T> Watched<T> {
    /// Loads `path` with `load`; an error here is the caller's to report (nothing to keep).
    pub fn load(
        path: &Path,
        load: &dyn Fn(&Path) -> Result<T, String>,
    ) -> Result<Watched<T>, String> {
        let before = stamp(path);
        let value = load(path)?;
        Ok(Watched {
            path: path.to_path_buf(),
            state: RwLock::new((Arc::new(value), 1)),
            stamp: std::sync::Mutex::new(before),
        })
    }

    /// The value in force.
    pub fn current(&self) -> Arc<T> {
        Arc::clone(&self.read().0)
    }

    /// The value in force and its generation.
    pub fn current_with_generation(&self) -> (Arc<T>, u64) {
        let state = self.read();
        (Arc::clone(&state.0), state.1)
    }

    /// The file watched.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, (Arc<T>, u64)> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Reloads if the file changed (or always, with `force`), keeping the old value when the
    /// new one does not load.
    pub fn reload(&self, force: bool, load: &dyn Fn(&Path) -> Result<T, String>) -> Reload {
        let now = stamp(&self.path);
        {
            let mut last = self.stamp.lock().unwrap_or_else(|e| e.into_inner());
            if !force && *last == now {
                return Reload::Unchanged;
            }
            *last = now;
        }
        match load(&self.path) {
            Ok(value) => {
                let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
                state.1 += 1;
                state.0 = Arc::new(value);
                Reload::Replaced(state.1)
            }
            Err(reason) => Reload::Refused(reason),
        }
    }
}

impl<T: Send + Sync + 'static> Watched<T> {
    /// Polls the file every `interval` and reloads on SIGHUP, calling `on_reload` with each
    /// outcome other than [`Reload::Unchanged`] (to log it and drop memoized decisions).
    pub fn spawn_reloader(
        self: &Arc<Self>,
        interval: Duration,
        load: Loader<T>,
        on_reload: Arc<dyn Fn(&Reload) + Send + Sync>,
    ) -> tokio::task::JoinHandle<()> {
        let watched = Arc::clone(self);
        tokio::spawn(async move {
            #[cfg(unix)]
            let mut hangups =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            loop {
                #[cfg(unix)]
                let forced = match hangups.as_mut() {
                    Some(h) => tokio::select! {
                        _ = h.recv() => true,
                        _ = tokio::time::sleep(interval) => false,
                    },
                    None => {
                        tokio::time::sleep(interval).await;
                        false
                    }
                };
                #[cfg(not(unix))]
                let forced = {
                    tokio::time::sleep(interval).await;
                    false
                };
                let outcome = {
                    let (watched, load) = (Arc::clone(&watched), Arc::clone(&load));
                    // Loading reads files: keep it off the async workers.
                    tokio::task::spawn_blocking(move || watched.reload(forced, &*load)).await
                };
                match outcome {
                    Ok(Reload::Unchanged) => {}
                    Ok(r) => on_reload(&r),
                    Err(e) => on_reload(&Reload::Refused(format!("the reload panicked: {e}"))),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(p: &Path) -> Result<u32, String> {
        let text = std::fs::read_to_string(p).map_err(|e| e.to_string())?;
        text.trim()
            .parse()
            .map_err(|_| format!("not a number: {text:?}"))
    }

    #[test]
    fn a_bad_file_keeps_the_old_value() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("v");
        std::fs::write(&path, "1").expect("write");
        let w = Watched::load(&path, &parse).expect("loads");
        assert_eq!(*w.current(), 1);
        assert_eq!(w.reload(false, &parse), Reload::Unchanged);
        std::fs::write(&path, "not a number").expect("write");
        assert!(matches!(w.reload(true, &parse), Reload::Refused(_)));
        assert_eq!(w.current_with_generation().1, 1);
        assert_eq!(*w.current(), 1);
        // A new file (new inode, as a ConfigMap update swaps it in) is seen without SIGHUP.
        let fresh = dir.path().join("v.new");
        std::fs::write(&fresh, "22").expect("write");
        std::fs::rename(&fresh, &path).expect("rename");
        assert_eq!(w.reload(false, &parse), Reload::Replaced(2));
        assert_eq!(*w.current(), 22);
    }
}
