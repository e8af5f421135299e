//! The review page: produced clips with a player, the crop-path preview, scores and
//! check results, and approve / reject forms whose decisions go to the
//! [`ReviewStore`]. Plain HTML forms (no script), served over HTTP/1.1 by hyper.
//!
//! Safety: every value from a manifest or the database is HTML-escaped; only files a
//! manifest names are served; a state-changing request needs the page's anti-forgery
//! token and a same-origin `Origin` (no cross-site form posts); with a token configured
//! (required when bound beyond loopback) every request needs it, as a cookie set by
//! `/?token=…` or as `Authorization: Bearer …`.

use crate::produce::{ClipStatus, ProducedClip, ProductionManifest};
use crate::review::{ReviewStore, Verdict};
use crate::{Result, StudioError};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const COOKIE: &str = "tuneclip_review";
/// Largest form body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 << 10;

/// The page's state: the store, the production folders it lists, its secrets.
#[derive(Debug)]
pub struct ReviewPage {
    store: Arc<ReviewStore>,
    productions: Vec<PathBuf>,
    /// Anti-forgery token put in every form (random per start).
    csrf: String,
    /// Access token, when configured.
    token: Option<String>,
}

/// A request as the page sees it (what hyper hands over, body already read).
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl PageRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// A response before it becomes hyper's.
#[derive(Debug, Clone)]
pub struct PageResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl PageResponse {
    fn html(status: u16, body: String) -> Self {
        Self {
            status,
            headers: vec![
                ("content-type", "text/html; charset=utf-8".into()),
                (
                    "content-security-policy",
                    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; media-src 'self'; \
                     form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
                        .into(),
                ),
                ("x-content-type-options", "nosniff".into()),
                // Not no-referrer: with it, browsers send `Origin: null` on form posts,
                // which the same-origin check must refuse.
                ("referrer-policy", "same-origin".into()),
                ("cache-control", "no-store".into()),
            ],
            body: body.into_bytes(),
        }
    }

    fn error(status: u16, message: &str) -> Self {
        Self::html(
            status,
            format!(
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>tuneclip review: error</title></head>\
                 <body><h1>{status}</h1><p class=\"error\">{}</p><p><a href=\"/\">back to the clips</a></p></body></html>",
                escape(message)
            ),
        )
    }

    fn redirect(location: &str) -> Self {
        Self { status: 303, headers: vec![("location", location.into())], body: Vec::new() }
    }
}

/// HTML-escape text for element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Equal strings, compared in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| StudioError::Config(format!("no randomness for the page token: {e}")))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

impl ReviewPage {
    /// A page over `store`, listing the productions in `productions` (folders holding a
    /// `manifest.json`; one missing or unreadable is shown as such).
    pub fn new(store: Arc<ReviewStore>, productions: Vec<PathBuf>, token: Option<String>) -> Result<Self> {
        if token.as_deref().is_some_and(str::is_empty) {
            return Err(StudioError::Config("review token: empty".into()));
        }
        Ok(Self { store, productions, csrf: random_hex(16)?, token })
    }

    pub fn store(&self) -> &Arc<ReviewStore> {
        &self.store
    }

    fn authorised(&self, req: &PageRequest) -> bool {
        let Some(token) = &self.token else { return true };
        let bearer = req.header("authorization").and_then(|v| v.strip_prefix("Bearer "));
        let cookie = req.header("cookie").and_then(|c| {
            c.split(';').filter_map(|kv| kv.trim().split_once('=')).find(|(k, _)| *k == COOKIE).map(|(_, v)| v)
        });
        [bearer, cookie].into_iter().flatten().any(|given| same_secret(given, token))
    }

    /// Answer one request.
    pub fn respond(&self, req: &PageRequest) -> PageResponse {
        if let (Some(token), "GET", "/") = (&self.token, req.method.as_str(), req.path.as_str()) {
            let fields = form(req.query.as_bytes());
            if let Some(given) = field(&fields, "token") {
                if !same_secret(given, token) {
                    return PageResponse::error(401, "wrong token");
                }
                let mut r = PageResponse::redirect("/");
                r.headers.push(("set-cookie", format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/")));
                return r;
            }
        }
        if !self.authorised(req) {
            return PageResponse::error(401, "this review page needs its token: open /?token=<token>");
        }
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/") => PageResponse::html(200, self.render()),
            ("POST", "/decisions") => self.decide(req),
            ("GET", p) if p.starts_with("/media/") => self.media(p),
            ("GET", _) => PageResponse::error(404, "no such page"),
            _ => PageResponse::error(405, "method not allowed"),
        }
    }

    fn manifests(&self) -> Vec<(usize, &Path, Result<ProductionManifest>)> {
        self.productions.iter().enumerate().map(|(i, d)| (i, d.as_path(), ProductionManifest::read(d))).collect()
    }

    fn find_clip(&self, production: usize, clip_id: &str) -> Option<(PathBuf, ProducedClip)> {
        let dir = self.productions.get(production)?;
        let m = ProductionManifest::read(dir).ok()?;
        m.clips.into_iter().find(|c| c.clip_id == clip_id).map(|c| (dir.clone(), c))
    }

    fn decide(&self, req: &PageRequest) -> PageResponse {
        // No cross-site posts: a browser names the origin of a form post; it must be ours.
        if req.header("sec-fetch-site").is_some_and(|s| s == "cross-site" || s == "same-site") {
            return PageResponse::error(403, "cross-site request refused");
        }
        if let Some(origin) = req.header("origin") {
            let host = req.header("host").unwrap_or("");
            if origin != format!("http://{host}") && origin != format!("https://{host}") {
                return PageResponse::error(403, &format!("origin {origin} is not this page's"));
            }
        }
        if req.body.len() > MAX_BODY_BYTES {
            return PageResponse::error(413, "form too large");
        }
        let fields = form(&req.body);
        if !field(&fields, "csrf").is_some_and(|c| same_secret(c, &self.csrf)) {
            return PageResponse::error(403, "missing or stale form token: reload the page and decide again");
        }
        let Some(verdict) = field(&fields, "verdict").and_then(Verdict::parse) else {
            return PageResponse::error(400, "verdict: expected approved or rejected");
        };
        let production = field(&fields, "production").and_then(|p| p.parse::<usize>().ok()).unwrap_or(usize::MAX);
        let clip_id = field(&fields, "clip").unwrap_or("");
        let Some((_, clip)) = self.find_clip(production, clip_id) else {
            return PageResponse::error(404, &format!("clip {clip_id:?}: not in the listed productions"));
        };
        match self.store.decide(&clip.clip_ref(), verdict, field(&fields, "reason").unwrap_or("")) {
            Ok(d) => {
                tracing::info!(clip = %clip.clip_id, verdict = d.verdict.as_str(), reason = %d.reason, "review decision");
                PageResponse::redirect(&format!("/#clip-{}", clip.clip_id))
            }
            Err(StudioError::InvalidDecision(m)) => PageResponse::error(400, &m),
            Err(e) => {
                tracing::error!(error = %e, "storing a review decision");
                PageResponse::error(500, "the decision could not be stored")
            }
        }
    }

    /// `/media/<production>/clips/<file>`: a file a manifest names, nothing else.
    fn media(&self, path: &str) -> PageResponse {
        let rest = &path["/media/".len()..];
        let Some((p, file)) = rest.split_once('/') else { return PageResponse::error(404, "no such file") };
        let Some(dir) = p.parse::<usize>().ok().and_then(|p| self.productions.get(p)) else {
            return PageResponse::error(404, "no such production");
        };
        let named = ProductionManifest::read(dir)
            .map(|m| m.clips.iter().any(|c| c.file == file || c.preview == file))
            .unwrap_or(false);
        if !named {
            return PageResponse::error(404, "no such file");
        }
        let content_type = if file.ends_with(".png") { "image/png" } else { "video/mp4" };
        match std::fs::read(dir.join(file)) {
            Ok(body) => PageResponse {
                status: 200,
                headers: vec![
                    ("content-type", content_type.into()),
                    ("x-content-type-options", "nosniff".into()),
                    ("cache-control", "no-store".into()),
                ],
                body,
            },
            Err(_) => PageResponse::error(404, "the clip file is missing"),
        }
    }

    /// The whole page.
    pub fn render(&self) -> String {
        let decisions = self.store.decisions();
        let mut h = String::new();
        h.push_str(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>tuneclip review</title><style>\
             body{font-family:sans-serif;margin:1.5em;background:#fafafa;color:#222}\
             .clip{background:#fff;border:1px solid #ddd;border-radius:6px;padding:1em;margin:1em 0;display:grid;\
             grid-template-columns:220px 1fr;gap:1em}\
             .clip h2{grid-column:1/3;margin:0;font-size:1.1em}\
             video{width:200px;background:#000}.preview{max-width:100%;border:1px solid #ccc}\
             table{border-collapse:collapse;font-size:.9em}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}\
             .pass{color:#176f2c}.fail{color:#b3261e;font-weight:bold}.missing{color:#b3261e}\
             .decision-approved{color:#176f2c}.decision-rejected{color:#b3261e}\
             form{margin-top:.5em}input[name=reason]{width:18em}\
             </style></head><body><h1>tuneclip review</h1>",
        );
        let manifests = self.manifests();
        let all: Vec<(usize, &Path, &ProducedClip)> = manifests
            .iter()
            .filter_map(|(i, d, m)| m.as_ref().ok().map(|m| (*i, *d, m)))
            .flat_map(|(i, d, m)| m.clips.iter().map(move |c| (i, d, c)))
            .collect();
        let count = |v: Verdict| {
            all.iter()
                .filter(|(_, _, c)| decisions.iter().any(|d| d.clip.clip_id == c.clip_id && d.verdict == v))
                .count()
        };
        let _ = write!(
            h,
            "<p id=\"summary\">{} clips: {} approved, {} rejected, {} flagged for review by the checks</p>",
            all.len(),
            count(Verdict::Approved),
            count(Verdict::Rejected),
            all.iter().filter(|(_, _, c)| c.status == ClipStatus::NeedsReview).count()
        );
        for (_, dir, m) in &manifests {
            if let Err(e) = m {
                let _ = write!(
                    h,
                    "<p class=\"missing\">production {}: {}</p>",
                    escape(&dir.display().to_string()),
                    escape(&e.to_string())
                );
            } else if let Ok(m) = m {
                for f in &m.failures {
                    let _ = write!(
                        h,
                        "<p class=\"missing\">song {}: no clip ({})</p>",
                        escape(&f.song_id),
                        escape(&f.reason)
                    );
                }
            }
        }
        for (p, dir, c) in all {
            let decision = decisions.iter().find(|d| d.clip.clip_id == c.clip_id);
            let state = decision.map_or("undecided", |d| d.verdict.as_str());
            let id = escape(&c.clip_id);
            let _ = write!(
                h,
                "<article class=\"clip\" id=\"clip-{id}\" data-clip=\"{id}\" data-decision=\"{state}\" data-status=\"{}\">\
                 <h2>{} <small>on</small> {} <small>{:.2}–{:.2} s</small></h2><div>",
                if c.status == ClipStatus::Passed { "passed" } else { "needs_review" },
                escape(&c.song_title),
                escape(&c.video_title),
                c.range.start_s,
                c.range.end_s
            );
            if dir.join(&c.file).is_file() {
                let _ =
                    write!(h, "<video controls preload=\"metadata\" src=\"/media/{p}/{}\"></video>", escape(&c.file));
            } else {
                let _ = write!(h, "<p class=\"missing file-missing\">clip file missing: {}</p>", escape(&c.file));
            }
            h.push_str("</div><div>");
            if dir.join(&c.preview).is_file() {
                let _ = write!(
                    h,
                    "<img class=\"preview\" alt=\"crop path preview\" src=\"/media/{p}/{}\">",
                    escape(&c.preview)
                );
            } else {
                let _ = write!(h, "<p class=\"missing\">preview missing: {}</p>", escape(&c.preview));
            }
            let _ = write!(
                h,
                "<p>score {:.3} · song window {:.1}–{:.1} s · {}×{} · segments {:?} · candidate {} · <b>{}</b></p>",
                c.score,
                c.song_window.start_s,
                c.song_window.end_s,
                c.width,
                c.height,
                c.segments,
                c.attempts,
                if c.status == ClipStatus::Passed { "passed every check" } else { "needs review" }
            );
            for r in &c.review_reasons {
                let _ = write!(h, "<p class=\"fail\">{}</p>", escape(r));
            }
            h.push_str("<table class=\"checks\"><tr><th>check</th><th>value</th><th>bounds</th><th></th></tr>");
            for k in &c.checks {
                let bounds = match (k.min, k.max) {
                    (Some(a), Some(b)) => format!("{a} … {b}"),
                    (Some(a), None) => format!("≥ {a}"),
                    (None, Some(b)) => format!("≤ {b}"),
                    (None, None) => String::new(),
                };
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                    escape(&k.name),
                    k.value.map_or("—".into(), |v| format!("{v:.3}")),
                    escape(&bounds),
                    if k.pass { "pass" } else { "fail" },
                    if k.pass { "pass" } else { "fail" }
                );
            }
            h.push_str("</table>");
            if let Some(d) = decision {
                let _ = write!(
                    h,
                    "<p class=\"decision decision-{0}\">{0}{1}</p>",
                    d.verdict.as_str(),
                    if d.reason.is_empty() { String::new() } else { format!(": {}", escape(&d.reason)) }
                );
            }
            let _ = write!(
                h,
                "<form method=\"post\" action=\"/decisions\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                 <input type=\"hidden\" name=\"production\" value=\"{p}\">\
                 <input type=\"hidden\" name=\"clip\" value=\"{id}\">\
                 <input name=\"reason\" placeholder=\"reason (required to reject)\" maxlength=\"500\">\
                 <button type=\"submit\" name=\"verdict\" value=\"approved\" class=\"approve\">Approve</button> \
                 <button type=\"submit\" name=\"verdict\" value=\"rejected\" class=\"reject\">Reject</button>\
                 </form></div></article>",
                self.csrf
            );
        }
        h.push_str("</body></html>");
        h
    }
}

/// Serve the review page on `listener` until `shutdown`.
pub async fn serve_review(
    listener: tokio::net::TcpListener,
    page: Arc<ReviewPage>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    use http_body_util::{BodyExt, Limited};
    use tuneclip_http::{Bytes, Full, Incoming, Request, Response};
    let handler = move |req: Request<Incoming>| {
        let page = Arc::clone(&page);
        async move {
            let (parts, body) = req.into_parts();
            let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
                Ok(b) => b.to_bytes().to_vec(),
                Err(_) => return tuneclip_http::text(413, "request body too large\n"),
            };
            let request = PageRequest {
                method: parts.method.as_str().to_string(),
                path: parts.uri.path().to_string(),
                query: parts.uri.query().unwrap_or("").to_string(),
                headers: parts
                    .headers
                    .iter()
                    .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string())))
                    .collect(),
                body,
            };
            // Rendering reads manifests and files: off the async threads.
            let response = tokio::task::spawn_blocking(move || page.respond(&request))
                .await
                .unwrap_or_else(|_| PageResponse::error(500, "internal error"));
            let mut builder = Response::builder().status(response.status);
            for (k, v) in response.headers {
                builder = builder.header(k, v);
            }
            builder.body(Full::new(Bytes::from(response.body))).map_err(std::io::Error::other)
        }
    };
    tuneclip_http::serve_http1(listener, "review", handler, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Check;
    use crate::produce::{MANIFEST_FORMAT, ProducedClip};
    use tuneclip_core::TimeRange;

    fn clip(id: &str, title: &str) -> ProducedClip {
        ProducedClip {
            clip_id: id.into(),
            song_id: format!("song-{id}"),
            song_title: title.into(),
            song_path: "song.ogg".into(),
            song_window: TimeRange::new(10.0, 40.0),
            beat_fit: None,
            sync: None,
            video_id: format!("video-{id}"),
            video_title: "a video".into(),
            video_path: "video.mp4".into(),
            range: TimeRange::new(0.0, 30.0),
            score: 0.5,
            segments: vec![0, 1],
            checks: vec![Check { name: "sharpness".into(), value: Some(50.0), min: Some(20.0), max: None, pass: true }],
            analysis_version: tuneclip_vision::ANALYSIS_VERSION,
            status: ClipStatus::Passed,
            review_reasons: vec![],
            attempts: 1,
            file: format!("clips/{id}.mp4"),
            preview: format!("clips/{id}.png"),
            width: 404,
            height: 720,
        }
    }

    struct Setup {
        _tmp: tempfile::TempDir,
        page: ReviewPage,
        dir: PathBuf,
    }

    fn setup(token: Option<&str>) -> Setup {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("production");
        std::fs::create_dir_all(dir.join("clips")).expect("mkdir");
        std::fs::write(dir.join("clips/aaa.mp4"), b"not really an mp4").expect("write");
        // bbb's files are missing (deleted after production).
        let m = ProductionManifest {
            format: MANIFEST_FORMAT,
            snapshot: "snap".into(),
            model_version: "test".into(),
            clip_s: 30.0,
            shard: None,
            clips: vec![clip("aaa", "Song <script>alert(1)</script> & \"co\""), clip("bbb", "Other")],
            failures: vec![],
        };
        std::fs::write(dir.join(crate::MANIFEST), serde_json::to_vec(&m).expect("json")).expect("write");
        let store = Arc::new(ReviewStore::open(&tmp.path().join("review.sqlite")).expect("store"));
        let page = ReviewPage::new(store, vec![dir.clone()], token.map(String::from)).expect("page");
        Setup { _tmp: tmp, page, dir }
    }

    fn get(path: &str) -> PageRequest {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        PageRequest { method: "GET".into(), path: path.into(), query: query.into(), ..PageRequest::default() }
    }

    fn post(body: &str, headers: &[(&str, &str)]) -> PageRequest {
        PageRequest {
            method: "POST".into(),
            path: "/decisions".into(),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
            ..PageRequest::default()
        }
    }

    fn text(r: &PageResponse) -> String {
        String::from_utf8_lossy(&r.body).into_owned()
    }

    #[test]
    fn the_page_escapes_and_shows_missing_files() {
        let s = setup(None);
        let r = s.page.respond(&get("/"));
        assert_eq!(r.status, 200);
        let html = text(&r);
        assert!(!html.contains("<script>"), "unescaped title");
        assert!(html.contains("Song &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;co&quot;"));
        assert!(html.contains("src=\"/media/0/clips/aaa.mp4\""));
        assert!(html.contains("clip file missing: clips/bbb.mp4"));
        assert!(html.contains("preview missing: clips/aaa.png"));
        assert!(r.headers.iter().any(|(k, v)| *k == "content-security-policy" && v.contains("default-src 'none'")));
        // Files: only those a manifest names, and a missing one is a 404, not a crash.
        assert_eq!(s.page.respond(&get("/media/0/clips/aaa.mp4")).body, b"not really an mp4");
        assert_eq!(s.page.respond(&get("/media/0/clips/bbb.mp4")).status, 404);
        assert_eq!(s.page.respond(&get("/media/0/../review.sqlite")).status, 404);
        assert_eq!(s.page.respond(&get("/media/0/manifest.json")).status, 404);
        assert_eq!(s.page.respond(&get("/media/7/clips/aaa.mp4")).status, 404);
        // A deleted manifest is reported on the page.
        std::fs::remove_file(s.dir.join(crate::MANIFEST)).expect("rm");
        let html = text(&s.page.respond(&get("/")));
        assert!(html.contains("0 clips") && html.contains("manifest.json"), "{html}");
    }

    #[test]
    fn decisions_need_the_form_token_and_the_same_origin() {
        let s = setup(None);
        let csrf = s.page.csrf.clone();
        let ok = format!("csrf={csrf}&production=0&clip=aaa&verdict=approved&reason=");
        // No token, a wrong token, a cross-site post, a foreign origin: refused, nothing stored.
        assert_eq!(s.page.respond(&post("production=0&clip=aaa&verdict=approved", &[])).status, 403);
        assert_eq!(s.page.respond(&post(&ok.replace(&csrf, "0000"), &[])).status, 403);
        assert_eq!(s.page.respond(&post(&ok, &[("sec-fetch-site", "cross-site")])).status, 403);
        let foreign = [("origin", "http://evil.example"), ("host", "127.0.0.1:8090")];
        assert_eq!(s.page.respond(&post(&ok, &foreign)).status, 403);
        assert!(s.page.store().decisions().is_empty());
        // Unknown clip, bad verdict, rejection without a reason: clear 4xx.
        assert_eq!(s.page.respond(&post(&ok.replace("clip=aaa", "clip=zzz"), &[])).status, 404);
        assert_eq!(s.page.respond(&post(&ok.replace("approved", "maybe"), &[])).status, 400);
        let r = s.page.respond(&post(&ok.replace("approved", "rejected"), &[]));
        assert_eq!(r.status, 400);
        assert!(text(&r).contains("reason"));
        // Same origin with the token: stored, and the page shows it.
        let same = [("origin", "http://127.0.0.1:8090"), ("host", "127.0.0.1:8090")];
        let r = s.page.respond(&post(&ok, &same));
        assert_eq!(r.status, 303);
        let d = s.page.store().decision("aaa").expect("stored");
        assert_eq!((d.verdict, d.clip.song_id.as_str()), (Verdict::Approved, "song-aaa"));
        let reject = format!("csrf={csrf}&production=0&clip=bbb&verdict=rejected&reason=%3Cb%3Eblurry%3C%2Fb%3E");
        assert_eq!(s.page.respond(&post(&reject, &same)).status, 303);
        let html = text(&s.page.respond(&get("/")));
        assert!(html.contains("data-clip=\"aaa\" data-decision=\"approved\""));
        assert!(html.contains("rejected: &lt;b&gt;blurry&lt;/b&gt;"), "{html}");
    }

    #[test]
    fn a_configured_token_guards_every_request() {
        let s = setup(Some("s3cret"));
        assert_eq!(s.page.respond(&get("/")).status, 401);
        assert_eq!(s.page.respond(&get("/media/0/clips/aaa.mp4")).status, 401);
        assert_eq!(s.page.respond(&get("/?token=wrong")).status, 401);
        let r = s.page.respond(&get("/?token=s3cret"));
        assert_eq!(r.status, 303);
        let cookie = r.headers.iter().find(|(k, _)| *k == "set-cookie").map(|(_, v)| v.clone()).expect("cookie");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        let mut with_cookie = get("/");
        with_cookie.headers.push(("cookie".into(), "other=1; tuneclip_review=s3cret".into()));
        assert_eq!(s.page.respond(&with_cookie).status, 200);
        let mut bearer = get("/");
        bearer.headers.push(("authorization".into(), "Bearer s3cret".into()));
        assert_eq!(s.page.respond(&bearer).status, 200);
        let ok = format!("csrf={}&production=0&clip=aaa&verdict=approved", s.page.csrf);
        assert_eq!(s.page.respond(&post(&ok, &[])).status, 401, "a form post needs the cookie too");
    }
}
