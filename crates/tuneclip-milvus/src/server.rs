//! A Milvus 2.3.5 standalone server for tests and benchmarks, from the binaries
//! set-up unpacks into `index-data/assets/milvus` (the PyPI `milvus` wheel). Every
//! port is a free one on 127.0.0.1, every component is told to use 127.0.0.1, its data
//! and logs live in a directory of the caller's; the child is stopped by its own pid
//! when the handle drops.

use crate::{MilvusError, Result};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct MilvusServer {
    child: Option<Child>,
    /// host:port of the gRPC proxy.
    pub addr: String,
    /// host:port of the HTTP health endpoint (`/healthz`).
    pub health_addr: String,
    pub data_dir: PathBuf,
}

/// Ports the template asks for, each given a free one.
const PORT_KEYS: [&str; 10] = [
    "etcd_port",
    "root_coord_port",
    "proxy_port",
    "proxy_internal_port",
    "query_coord_port",
    "query_node_port",
    "index_coord_port",
    "index_node_port",
    "data_coord_port",
    "data_node_port",
];

fn free_ports(n: usize) -> Result<Vec<u16>> {
    // Hold every listener until all are chosen, so no port is handed out twice.
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| MilvusError::Server(format!("no free port on 127.0.0.1: {e}")))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| MilvusError::Server(e.to_string()))
}

/// Fill the `{{ key(type): default }}` fields of Milvus's config template with `values`
/// (or their defaults), and pin every component's `ip` to 127.0.0.1.
pub fn render_config(template: &str, values: &[(&str, String)]) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    for line in template.lines() {
        let mut line = line.to_string();
        while let Some(start) = line.find("{{") {
            let end = line[start..]
                .find("}}")
                .map(|e| start + e)
                .ok_or_else(|| MilvusError::Server(format!("unclosed {{{{ in the config template: {line}")))?;
            let inner = line[start + 2..end].trim();
            let (key, default) = match inner.split_once(':') {
                Some((k, d)) => (k.trim(), Some(d.trim())),
                None => (inner, None),
            };
            let key = key.split('(').next().unwrap_or(key).trim();
            let value = values
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.clone())
                .or_else(|| default.map(str::to_string))
                .ok_or_else(|| MilvusError::Server(format!("the config template's {key} has no value")))?;
            line.replace_range(start..end + 2, &value);
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with("ip:") {
            let indent = &line[..line.len() - trimmed.len()];
            line = format!("{indent}ip: 127.0.0.1");
        }
        out.push_str(&line);
        out.push('\n');
    }
    Ok(out)
}

impl MilvusServer {
    /// The assets folder set-up fills (`index-data/assets/milvus`).
    pub fn install_dir(data_root: &Path) -> PathBuf {
        data_root.join("assets/milvus")
    }

    /// Start Milvus from `install` with its state under `data_dir` and wait (up to
    /// `timeout`) until its health endpoint says OK.
    pub fn start(install: &Path, data_dir: &Path, timeout: Duration) -> Result<Self> {
        Self::start_on(install, data_dir, None, timeout)
    }

    /// [`start`](Self::start) with the gRPC proxy on `proxy_port` of 127.0.0.1 when
    /// given (an error if that port is taken); every other port is a free one.
    pub fn start_on(install: &Path, data_dir: &Path, proxy_port: Option<u16>, timeout: Duration) -> Result<Self> {
        let install =
            std::path::absolute(install).map_err(|e| MilvusError::Server(format!("{}: {e}", install.display())))?;
        let install = install.as_path();
        let exe = install.join("bin/milvus");
        if !exe.is_file() {
            return Err(MilvusError::Server(format!("{} is missing (run setup.sh)", exe.display())));
        }
        let template_path = install.join("config.yaml.template");
        let template = std::fs::read_to_string(&template_path)
            .map_err(|e| MilvusError::Server(format!("{}: {e}", template_path.display())))?;
        let data_dir = std::path::absolute(data_dir).map_err(|e| MilvusError::Server(e.to_string()))?;
        let (configs, logs, storage) = (data_dir.join("configs"), data_dir.join("logs"), data_dir.join("data"));
        for d in [&configs, &logs, &storage] {
            std::fs::create_dir_all(d).map_err(|e| MilvusError::Server(format!("{}: {e}", d.display())))?;
        }
        // The proxy and coordinators, the metrics/health port, and embedded etcd's peer port.
        let mut ports = free_ports(PORT_KEYS.len() + 2)?;
        if let Some(p) = proxy_port {
            TcpListener::bind(("127.0.0.1", p))
                .map_err(|e| MilvusError::Server(format!("127.0.0.1:{p} is taken (another Milvus running?): {e}")))?;
            ports[PORT_KEYS.iter().position(|k| *k == "proxy_port").expect("listed")] = p;
        }
        let mut values: Vec<(&str, String)> = PORT_KEYS.iter().zip(&ports).map(|(k, p)| (*k, p.to_string())).collect();
        let path = |p: PathBuf| p.display().to_string();
        values.extend([
            ("etcd_log_path", path(logs.join("etcd.log"))),
            ("system_log_path", path(logs.clone())),
            ("etcd_data_dir", path(storage.join("etcd.data"))),
            ("local_storage_dir", path(storage.clone())),
            ("rocksmq_data_dir", path(storage.join("rocksmq"))),
        ]);
        // Embedded etcd would take 2379/2380 (two servers would clash): its own config,
        // on our ports, on 127.0.0.1.
        let (etcd, peer) = (ports[0], ports[PORT_KEYS.len() + 1]);
        let etcd_config = configs.join("embedEtcd.yaml");
        let etcd_yaml = format!(
            "name: tuneclip\ndata-dir: {data}\nlisten-client-urls: http://127.0.0.1:{etcd}\n\
             advertise-client-urls: http://127.0.0.1:{etcd}\nlisten-peer-urls: http://127.0.0.1:{peer}\n\
             initial-advertise-peer-urls: http://127.0.0.1:{peer}\ninitial-cluster: tuneclip=http://127.0.0.1:{peer}\n",
            data = storage.join("etcd.data").display()
        );
        std::fs::write(&etcd_config, etcd_yaml).map_err(|e| MilvusError::Server(e.to_string()))?;
        let config = render_config(&template, &values)?.replacen(
            "\n  use:\n    embed: true",
            &format!("\n  config:\n    path: {}\n  use:\n    embed: true", etcd_config.display()),
            1,
        );
        if !config.contains("embedEtcd.yaml") {
            return Err(MilvusError::Server("the config template has no etcd.use.embed to configure".into()));
        }
        std::fs::write(configs.join("milvus.yaml"), config).map_err(|e| MilvusError::Server(e.to_string()))?;
        std::fs::copy(install.join("glog.conf"), configs.join("glog.conf"))
            .map_err(|e| MilvusError::Server(format!("glog.conf: {e}")))?;
        let proxy = ports[PORT_KEYS.iter().position(|k| *k == "proxy_port").expect("listed")];
        let metrics = ports[PORT_KEYS.len()];
        let log = |name: &str| {
            std::fs::File::create(logs.join(name)).map_err(|e| MilvusError::Server(format!("{name}: {e}")))
        };
        let bin = install.join("bin");
        let ld = match std::env::var_os("LD_LIBRARY_PATH") {
            Some(old) => format!("{}:{}", bin.display(), old.to_string_lossy()),
            None => bin.display().to_string(),
        };
        let child = Command::new(&exe)
            .args(["run", "standalone"])
            .current_dir(&data_dir)
            .env("DEPLOY_MODE", "STANDALONE")
            .env("METRICS_PORT", metrics.to_string())
            .env("MILVUS_RUN_DIR", data_dir.join("run"))
            .env("LD_LIBRARY_PATH", ld)
            .stdin(Stdio::null())
            .stdout(log("milvus-stdout.log")?)
            .stderr(log("milvus-stderr.log")?)
            .spawn()
            .map_err(|e| MilvusError::Server(format!("{}: {e}", exe.display())))?;
        let mut server = Self {
            child: Some(child),
            addr: format!("127.0.0.1:{proxy}"),
            health_addr: format!("127.0.0.1:{metrics}"),
            data_dir: data_dir.clone(),
        };
        server.wait_healthy(timeout)?;
        Ok(server)
    }

    fn wait_healthy(&mut self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(MilvusError::Server(format!(
                    "exited with {status} while starting; see {}",
                    self.data_dir.join("logs/milvus-stderr.log").display()
                )));
            }
            if self.healthz().unwrap_or(false) {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(MilvusError::Server(format!(
                    "not healthy after {:.0} s; see {}",
                    timeout.as_secs_f64(),
                    self.data_dir.join("logs").display()
                )));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// GET /healthz on the metrics port: true on "OK".
    pub fn healthz(&self) -> std::io::Result<bool> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&self.health_addr)?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        write!(s, "GET /healthz HTTP/1.0\r\nHost: {}\r\n\r\n", self.health_addr)?;
        let mut body = String::new();
        s.read_to_string(&mut body)?;
        Ok(body.contains("200 OK") && body.trim_end().ends_with("OK"))
    }

    /// The server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the server has exited (and how), without waiting.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Stop the server cleanly: SIGTERM (Milvus flushes and closes its stores), then
    /// SIGKILL if it is still running after `grace`. Returns whether it stopped on the
    /// SIGTERM.
    pub fn shutdown(&mut self, grace: Duration) -> bool {
        let Some(mut child) = self.child.take() else { return true };
        if child.try_wait().ok().flatten().is_some() {
            return true;
        }
        let termed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().is_ok_and(|s| s.success());
        let start = Instant::now();
        while termed && start.elapsed() < grace {
            if child.try_wait().ok().flatten().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Stop the server (SIGKILL to its own pid) and wait for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for MilvusServer {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_fields_are_filled_and_ips_pinned() {
        let t = "proxy:\n  port: {{ proxy_port(int): 19530 }}\n  ip: # first unicastable\netcd:\n  level: {{ etcd_log_level: info }}\n  dir: {{ etcd_data_dir }}\n";
        let out = render_config(t, &[("proxy_port", "4000".into()), ("etcd_data_dir", "/d".into())]).expect("render");
        assert_eq!(out, "proxy:\n  port: 4000\n  ip: 127.0.0.1\netcd:\n  level: info\n  dir: /d\n");
        assert!(render_config("x: {{ missing }}", &[]).is_err());
    }
}
