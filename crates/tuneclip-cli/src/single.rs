//! The single-file tools: `tuneclip scenes FILE` (the analysis of one video as a scene
//! list) and `tuneclip reframe IN OUT` (one video to a vertical clip). No catalogue,
//! snapshot or server is involved; the analysis is ingest's own
//! ([`tuneclip_ingest::analyse_video_file`]), with the same detectors and opt-outs.

use crate::Analysers;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tuneclip_core::TimeRange;
use tuneclip_ingest::{Detectors, analyse_video_file};
use tuneclip_model::Embedder;
use tuneclip_vision::{SceneList, VideoAnalysis};

/// How `scenes` prints its list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SceneFormat {
    Table,
    Json,
    Csv,
}

/// A spinner on stderr naming the stage and the time spent (hidden when stderr is not
/// a terminal, as indicatif does).
fn stage(msg: String) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message(msg);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Analyse one video file as ingest would (no embedding).
pub(crate) fn analyse(file: &Path, with: &Analysers) -> Result<VideoAnalysis> {
    if !file.is_file() {
        bail!("{}: not a file (expected a video file)", file.display());
    }
    // The embedding model plays no part in the analysis; the cheapest one is named.
    let cfg = tuneclip_ingest::IngestConfig { progress: false, ..with.ingest_config(&Embedder::Handcrafted)? };
    let mut detectors = Detectors::build(&cfg)?;
    let bar = stage(format!("analysing {}", file.display()));
    let result = analyse_video_file(file, &cfg, &mut detectors);
    bar.finish_and_clear();
    let (analysis, _) = result.map_err(|e| anyhow::anyhow!("cannot analyse {}: {e}", file.display()))?;
    if !analysis.damage.is_clean() {
        eprintln!("damaged {}: {} (analysed what decoded)", file.display(), analysis.damage);
    }
    Ok(analysis)
}

/// `tuneclip scenes FILE`: the scene list on stdout.
pub(crate) fn scenes(file: &Path, with: &Analysers, format: SceneFormat) -> Result<()> {
    let list = SceneList::new(&analyse(file, with)?);
    match format {
        SceneFormat::Table => print!("{}", list.to_table()),
        SceneFormat::Csv => print!("{}", list.to_csv()),
        SceneFormat::Json => println!("{}", serde_json::to_string_pretty(&list)?),
    }
    Ok(())
}

/// What `tuneclip reframe` is asked for.
#[derive(Debug, Clone)]
pub(crate) struct ReframeJob {
    pub input: PathBuf,
    pub output: PathBuf,
    /// Width / height.
    pub aspect: f64,
    pub start_s: f64,
    pub duration_s: Option<f64>,
    pub plan_json: Option<PathBuf>,
    pub preview: Option<PathBuf>,
    /// Sound from another file (a song) from `audio_start_s`; without it, the input's
    /// own sound over the same range when it has one.
    pub audio: Option<PathBuf>,
    pub audio_start_s: f64,
}

/// `W:H` (e.g. `9:16`) or a decimal width / height.
pub(crate) fn parse_aspect(s: &str) -> std::result::Result<f64, String> {
    let v = match s.split_once(':') {
        Some((w, h)) => {
            let num = |x: &str| x.trim().parse::<f64>().map_err(|_| format!("{s:?}: expected W:H such as 9:16"));
            num(w)? / num(h)?
        }
        None => s.trim().parse::<f64>().map_err(|_| format!("{s:?}: expected W:H such as 9:16, or a ratio"))?,
    };
    if !(0.05..=20.0).contains(&v) {
        return Err(format!("{s:?}: width / height {v:.3} is outside 0.05..=20"));
    }
    Ok(v)
}

/// Whether `a` and `b` name the same file (`b` need not exist yet).
fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(a), Some(dir), Some(name)) = (a.canonicalize(), b.parent(), b.file_name()) else { return false };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    dir.canonicalize().is_ok_and(|d| d.join(name) == a)
}

/// `tuneclip reframe IN OUT`: analyse, plan, render; print what was written.
pub(crate) fn reframe(job: &ReframeJob, with: &Analysers) -> Result<()> {
    for (what, path) in [("--plan-json", job.plan_json.as_ref()), ("--preview", job.preview.as_ref())] {
        if path.is_some_and(|p| same_file(&job.input, p)) {
            bail!(
                "{what} {} is the input: it would be overwritten",
                path.map_or(String::new(), |p| p.display().to_string())
            );
        }
    }
    if same_file(&job.input, &job.output) || job.audio.as_ref().is_some_and(|a| same_file(a, &job.output)) {
        bail!("the output {} is an input: it would be overwritten (choose another OUT)", job.output.display());
    }
    if job.output.extension().is_none_or(|e| !e.eq_ignore_ascii_case("mp4")) {
        bail!("{}: the output must be an .mp4 file (H.264)", job.output.display());
    }
    if let Some(a) = &job.audio
        && !a.is_file()
    {
        bail!("--audio {}: not a file (expected a song)", a.display());
    }
    let analysis = analyse(&job.input, with)?;
    let end = match job.duration_s {
        Some(d) if d.is_nan() || d <= 0.0 => bail!("--duration {d}: expected seconds > 0"),
        Some(d) => job.start_s + d,
        None => analysis.info.duration_s,
    };
    if !(job.start_s >= 0.0 && job.start_s < analysis.info.duration_s) {
        bail!("--start {}: expected 0 <= s < {:.3} (the video's length)", job.start_s, analysis.info.duration_s);
    }
    let range = TimeRange::new(job.start_s, end.min(analysis.info.duration_s));
    let cfg = tuneclip_reframe::ReframeConfig { aspect: job.aspect, ..Default::default() };
    let plan = tuneclip_reframe::plan_crop(&analysis, range, &cfg)
        .with_context(|| format!("cannot plan a crop of {}", job.input.display()))?;
    if let Some(p) = &job.plan_json {
        std::fs::write(p, serde_json::to_vec_pretty(&plan)?)
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    let audio_path = job.audio.clone().unwrap_or_else(|| job.input.clone());
    let audio_start_s = if job.audio.is_some() { job.audio_start_s } else { range.start_s };
    let audio = match tuneclip_media::decode_stereo_window(&audio_path, audio_start_s, 0.05) {
        Ok(_) => Some(tuneclip_media::render::SongAudio { path: audio_path, start_s: audio_start_s }),
        Err(e) if job.audio.is_some() => bail!("--audio {}: {e}", audio_path.display()),
        Err(_) => {
            eprintln!(
                "{} has no sound tuneclip can decode: the clip is silent (--audio SONG adds one)",
                job.input.display()
            );
            None
        }
    };
    let render = tuneclip_media::render::RenderConfig { audio, ..Default::default() };
    if let Some(dir) = job.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let bar = stage(format!("rendering {:.2}-{:.2} s to {}", range.start_s, range.end_s, job.output.display()));
    let rendered = tuneclip_media::clip::render_clip(&job.input, &plan, &job.output, &render);
    bar.finish_and_clear();
    let rendered = rendered.with_context(|| format!("cannot render {}", job.output.display()))?;
    let mut preview = rendered.preview_png.clone();
    if let Some(p) = &job.preview
        && *p != preview
    {
        std::fs::rename(&preview, p)
            .or_else(|_| std::fs::copy(&preview, p).and_then(|_| std::fs::remove_file(&preview)))
            .with_context(|| format!("cannot write {}", p.display()))?;
        preview = p.clone();
    }
    let shots = plan.shots.len();
    // Said here rather than left to the plan: a texture or a crowd gives the camera
    // nothing to follow.
    let without_subject = plan.shots_without_subject();
    let v = &rendered.video;
    println!(
        "{}: {}x{}, {:.2} s, {shots} shot(s), {without_subject} without a subject (camera held at the centre)",
        job.output.display(),
        v.width,
        v.height,
        v.duration_s
    );
    println!("preview: {}", preview.display());
    if let Some(p) = &job.plan_json {
        println!("crop plan: {}", p.display());
    }
    Ok(())
}
