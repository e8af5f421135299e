//! gRPC over TLS (rustls), with client certificates: certificates made at test time by
//! the `openssl` CLI (a CA, a server certificate for localhost / 127.0.0.1, a client
//! certificate); the server on 127.0.0.1:0 requires clients signed by the CA.

use crate::{Served, shot};
use std::path::Path;
use std::process::Command;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use tuneclip_server::{MatchServiceClient, TlsSettings, pb};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl CLI");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// ca.pem, server.pem/.key (localhost, 127.0.0.1), client.pem/.key, all under `dir`.
fn make_certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=tuneclip test CA",
        ],
    );
    std::fs::write(dir.join("server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        .expect("ext");
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").expect("ext");
    for who in ["server", "client"] {
        let (key, csr, pem, ext) =
            (format!("{who}.key"), format!("{who}.csr"), format!("{who}.pem"), format!("{who}.ext"));
        openssl(
            dir,
            &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", &format!("/CN={who}")],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_tls_requires_a_client_certificate() {
    let certs = tempfile::tempdir().expect("tmp");
    let d = certs.path();
    make_certificates(d);
    // A key given as the certificate is refused by name, before anything is served.
    let e = TlsSettings::load(&d.join("server.key"), &d.join("server.key"), None).expect_err("not a certificate");
    assert!(matches!(e, tuneclip_server::TlsError::NotPem { marker: "CERTIFICATE", .. }), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("server.key") && e.contains("CERTIFICATE"), "{e}");
    let tls = TlsSettings::load(&d.join("server.pem"), &d.join("server.key"), Some(&d.join("ca.pem"))).expect("load");
    let served = Served::start(
        320,
        180,
        &[shot("testsrc2=size=320x180:rate=25", 3.0), shot("mandelbrot=size=320x180:rate=25", 3.0)],
        move |c| c.tls = Some(tls),
    )
    .await;
    let request = pb::BestClipsRequest {
        song: Some(pb::best_clips_request::Song::SongId(served.catalogue.songs[0].id.0.clone())),
        k: Some(1),
        clip_duration_s: Some(2.0),
        ..Default::default()
    };
    let ca = Certificate::from_pem(std::fs::read(d.join("ca.pem")).expect("ca"));
    let url = format!("https://127.0.0.1:{}", served.addr.port());
    let client_tls = ClientTlsConfig::new().ca_certificate(ca.clone()).domain_name("localhost");

    // With the CA and a client certificate: answered.
    let identity = Identity::from_pem(
        std::fs::read(d.join("client.pem")).expect("client cert"),
        std::fs::read(d.join("client.key")).expect("client key"),
    );
    let channel = Endpoint::from_shared(url.clone())
        .expect("url")
        .tls_config(client_tls.clone().identity(identity))
        .expect("tls")
        .connect()
        .await
        .expect("TLS connect with a client certificate");
    let clips = MatchServiceClient::new(channel).best_clips(request.clone()).await.expect("BestClips over TLS");
    assert_eq!(clips.into_inner().clips.len(), 1);

    // Without a client certificate: refused.
    let without =
        match Endpoint::from_shared(url.clone()).expect("url").tls_config(client_tls).expect("tls").connect().await {
            Ok(ch) => MatchServiceClient::new(ch).best_clips(request.clone()).await.is_ok(),
            Err(_) => false,
        };
    assert!(!without, "a client without a certificate was served");
    // Plain HTTP/2 to the TLS port: refused.
    let plain =
        match Endpoint::from_shared(format!("http://127.0.0.1:{}", served.addr.port())).expect("url").connect().await {
            Ok(ch) => MatchServiceClient::new(ch).best_clips(request).await.is_ok(),
            Err(_) => false,
        };
    assert!(!plain, "a plaintext client was served");
    served.shutdown().await;
}
