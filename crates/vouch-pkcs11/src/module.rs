//! Loading PKCS#11 modules: each library is loaded and initialised once per process and kept
//! for its lifetime, since `C_Initialize` may be called only once per process and a second
//! `C_Finalize` would pull it from under any key still open.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};

use crate::Pkcs11Error;
use crate::error::code_name;

static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();

/// The module at `path`, loaded and initialised on first use.
pub(crate) fn load(path: &Path) -> Result<Pkcs11, Pkcs11Error> {
    let not_loadable = |reason: String| Pkcs11Error::ModuleLoad {
        path: path.to_path_buf(),
        reason,
    };
    if !path.is_absolute() {
        return Err(not_loadable("the module path must be absolute".into()));
    }
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Pkcs11Error::ModuleNotFound {
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(not_loadable(e.to_string())),
    };
    if !meta.is_file() {
        return Err(not_loadable("not a regular file".into()));
    }
    let canonical = std::fs::canonicalize(path).map_err(|e| not_loadable(e.to_string()))?;
    let mut modules = MODULES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(module) = modules.get(&canonical) {
        return Ok(module.clone());
    }
    let module = Pkcs11::new(&canonical).map_err(|e| match e {
        Error::LibraryLoading(e) => not_loadable(e.to_string()),
        Error::MissingSymbol(symbol) => {
            not_loadable(format!("it has no {symbol}: not a PKCS#11 module"))
        }
        other => not_loadable(code_name(&other)),
    })?;
    match module.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Initialised by other code in this process (it shares the library): usable as is.
        Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(not_loadable(format!("C_Initialize: {}", code_name(&e)))),
    }
    modules.insert(canonical, module.clone());
    Ok(module)
}
