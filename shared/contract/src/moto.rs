//! A moto server for tests, started from the project's Python venv
//! (`infra/python-env.sh` creates it; `infra/test-all.sh` runs that first).
//! The child stops when this process exits: it serves until its stdin closes.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

pub struct Moto {
    pub endpoint: String,
    _child: Child,
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's Python: `$SECURE2FA_VENV` or `<workspace>/.venv`.
pub fn venv_python() -> PathBuf {
    let venv = std::env::var_os("SECURE2FA_VENV").map(PathBuf::from).unwrap_or_else(|| workspace_root().join(".venv"));
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "no Python venv at {}: run infra/python-env.sh (infra/test-all.sh does) to install moto",
        venv.display()
    );
    python
}

impl Moto {
    /// Starts a fresh moto server on `host` (port chosen by the OS).
    pub fn start(host: &str) -> Moto {
        let mut child = Command::new(venv_python())
            .arg(workspace_root().join("infra/moto_server.py"))
            .arg(host)
            .arg("0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start moto");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line).expect("moto did not start");
        assert!(line.contains(':'), "moto did not report its address (is moto[server] installed in the venv?)");
        Moto { endpoint: format!("http://{}", line.trim()), _child: child }
    }

    /// One server per test binary, on loopback.
    pub fn shared() -> &'static Moto {
        static MOTO: OnceLock<Moto> = OnceLock::new();
        MOTO.get_or_init(|| Moto::start("127.0.0.1"))
    }
}
