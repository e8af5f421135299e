//! `tuneclip milvus local`: a Milvus on this machine from the set-up's binaries, on the
//! port asked for (127.0.0.1 only), answering `tuneclip milvus status`, stopped cleanly
//! by Ctrl-C (SIGINT) with nothing left listening.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

#[test]
fn a_local_milvus_starts_answers_and_stops_on_ctrl_c() {
    let bin = env!("CARGO_BIN_EXE_tuneclip");
    let dir = tempfile::tempdir().expect("tmp");
    // Beyond loopback is refused before anything starts.
    let out = Command::new(bin)
        .args(["milvus", "local", "--milvus-addr", "192.0.2.1:19530", "--data"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback only"), "{}", String::from_utf8_lossy(&out.stderr));

    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(bin)
        .args(["milvus", "local", "--milvus-addr", &addr, "--data"])
        .arg(dir.path().join("milvus"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    // The first line on stdout says where it listens (or stdout closes: it failed).
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read");
    if !line.contains("Milvus on") {
        let _ = child.kill();
        let out = child.wait_with_output().expect("wait");
        panic!("no 'Milvus on' line: {line:?}; stderr {}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(line.contains(&addr), "{line}");
    let status = Command::new(bin).args(["milvus", "status", "--milvus-addr", &addr]).output().expect("status");
    let said = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success() && said.contains("healthy") && said.contains("nothing published"), "{said}");

    let st = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(st.success());
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {err}", out.status);
    assert!(err.contains("Ctrl-C: stopping Milvus") && err.contains("Milvus stopped"), "{err}");
    // Nothing listens on the proxy port any more.
    assert!(std::net::TcpListener::bind(&addr).is_ok(), "{addr} still taken after the stop");
    assert!(dir.path().join("milvus/data").is_dir(), "state kept in --data");
}
