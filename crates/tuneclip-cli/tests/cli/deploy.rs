//! Running `serve` as a service: the unit file in `deploy/` passes `systemd-analyze
//! verify`, and `serve` stops on SIGTERM (what `systemctl stop` sends) by draining and
//! exiting 0.

use std::path::Path;
use std::process::{Command, Stdio};

/// `systemd-analyze verify` on a copy of `unit` named `tuneclip.service`; its stderr
/// (it exits 0 on unknown keys, so any word from it is a finding).
fn verify(unit: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tuneclip.service");
    std::fs::write(&path, unit).expect("write unit");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian's systemd package) runs");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_unit_file_verifies_and_names_the_binary_it_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let unit = std::fs::read_to_string(root.join("deploy/tuneclip.service")).expect("deploy/tuneclip.service");
    assert!(unit.contains("ExecStart=/usr/local/bin/tuneclip serve"), "the README's install path");
    // verify checks that ExecStart is executable: point it at the binary under test.
    let here = unit.replace("/usr/local/bin/tuneclip", env!("CARGO_BIN_EXE_tuneclip"));
    let (ok, err) = verify(&here);
    assert!(ok && err.trim().is_empty(), "systemd-analyze verify: {err}");
    // The check can fail: a misspelt key and a bad value are reported.
    let broken = here.replace("Restart=on-failure", "Restart=sometimes").replace("KillSignal=", "KilSignal=");
    let (_, err) = verify(&broken);
    assert!(err.contains("sometimes") && err.contains("KilSignal"), "{err}");
}

#[test]
fn serve_drains_and_exits_zero_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (songs, videos) = crate::make_media(dir.path());
    let data = dir.path().join("data");
    crate::run_ok(crate::ingest(&data, &songs, &videos));
    let mut child = crate::tuneclip(&data)
        .args(["serve", "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--review-addr", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    // Wait until it says it serves, reading stderr line by line.
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut stderr, &mut line).expect("read stderr");
        assert!(n > 0, "serve exited before serving: {seen}");
        seen += &line;
        if line.starts_with("serving ") {
            break;
        }
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let status = child.wait().expect("wait");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).expect("rest of stderr");
    assert!(status.success(), "serve after SIGTERM: {status}; {seen}{rest}");
    assert!(rest.contains("SIGTERM: draining"), "{rest}");
}
