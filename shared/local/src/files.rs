//! Private files in the data directory (master key, deployment secrets,
//! dev credentials): created 0600, written atomically.

use std::fs;
use std::io::Write;
use std::path::Path;

use secure2fa_core::secrets::{DeploymentSecrets, OperatorToken, random_secret_string};
use zeroize::Zeroizing;

/// Creates the data directory (0700) if it does not exist. An existing
/// directory is someone's own layout: its mode is left alone, with a
/// warning when others can enter it (the files inside stay 0600).
pub fn prepare_data_dir(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(dir = %dir.display(), mode = format!("{:o}", mode & 0o777), "data directory is accessible to other users; its files are 0600");
            }
        }
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// An exclusive lock on the data directory (`secure2fa.lock`), held while
/// the returned file is open; `Ok(None)` when another process holds it. Two
/// servers on one directory would each take the other's delivery claims
/// back at start (see `release_delivery_claims`) and send codes twice. The
/// operating system releases the lock when the process ends, however it ends.
pub fn lock_data_dir(dir: &Path) -> std::io::Result<Option<fs::File>> {
    let path = dir.join("secure2fa.lock");
    create_private(&path)?;
    let file = fs::OpenOptions::new().write(true).open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Creates `path` empty with mode 0600 if it does not exist, so that a
/// program that creates it later (SQLite, and its -wal and -shm files,
/// which copy the database's mode) never makes it readable by others.
pub fn create_private(path: &Path) -> std::io::Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map(|_| ())
}

/// Writes `bytes` to `path` with mode 0600, via a temporary file and a
/// rename so a crash never leaves a half-written file.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

/// Reads a private file, or creates it from `make` when absent. Refuses a
/// file that others can read.
pub fn read_or_create_private(
    path: &Path,
    make: impl FnOnce() -> Zeroizing<Vec<u8>>,
) -> std::io::Result<Zeroizing<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => {
            check_private(path)?;
            Ok(Zeroizing::new(bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let bytes = make();
            write_private(path, &bytes)?;
            Ok(bytes)
        }
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(std::io::Error::other(format!(
            "{} is readable by other users (mode {:o}); run chmod 600 on it",
            path.display(),
            mode & 0o777
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path) -> std::io::Result<()> {
    Ok(())
}

/// The deployment secrets and operator token of a local data directory
/// (`secrets.json`, created on first use with random values).
pub fn load_or_create_secrets(dir: &Path) -> std::io::Result<(DeploymentSecrets, OperatorToken, Zeroizing<String>)> {
    let path = dir.join("secrets.json");
    let text = read_or_create_private(&path, || {
        let doc = serde_json::json!({
            "master": random_secret_string().as_str(),
            "operator_token": format!("s2fa_op_{}", random_secret_string().as_str()),
        });
        Zeroizing::new(serde_json::to_vec_pretty(&doc).expect("JSON of strings"))
    })?;
    #[derive(serde::Deserialize)]
    struct Doc {
        master: Zeroizing<String>,
        operator_token: Zeroizing<String>,
    }
    let bad = |e: &dyn std::fmt::Display| std::io::Error::other(format!("{}: {e}", path.display()));
    let doc: Doc = serde_json::from_slice(&text).map_err(|e| bad(&e))?;
    let secrets = DeploymentSecrets::from_master(&doc.master).map_err(|e| bad(&e))?;
    let token = OperatorToken::new(&doc.operator_token).map_err(|e| bad(&e))?;
    let raw_token = doc.operator_token;
    Ok((secrets, token, raw_token))
}
