//! Training curves as a PNG (plotters): the loss, and validation Recall@1/5/10 in both
//! directions, per epoch. Text uses DejaVu Sans (installed by `setup.sh`).

use crate::train::EpochRecord;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use std::path::Path;
use std::sync::OnceLock;

const FONT_PATHS: [&str; 2] =
    ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf"];

fn ensure_font() -> Result<(), String> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let bytes = FONT_PATHS
            .iter()
            .find_map(|p| std::fs::read(p).ok())
            .ok_or_else(|| "no DejaVu Sans font (fonts-dejavu-core; run setup.sh)".to_string())?;
        let leaked: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        register_font("sans-serif", FontStyle::Normal, leaked).map_err(|_| "DejaVu Sans did not load".to_string())
    })
    .clone()
}

/// Draw `history` into `out` (two panels side by side).
pub fn curves(history: &[EpochRecord], out: &Path) -> crate::error::Result<()> {
    draw_curves(history, out).map_err(|message| crate::error::Error::Plot { path: out.to_path_buf(), message })
}

fn draw_curves(history: &[EpochRecord], out: &Path) -> Result<(), String> {
    ensure_font()?;
    if history.is_empty() {
        return Ok(());
    }
    let root = BitMapBackend::new(out, (1200, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (left, right) = root.split_horizontally(560);
    let last = history.last().map_or(1, |r| r.epoch).max(2) as f64;
    let first = history.first().map_or(1, |r| r.epoch) as f64;

    let max_loss = history.iter().map(|r| r.train_loss).fold(0.0f64, f64::max).max(1e-3) * 1.1;
    let mut loss = ChartBuilder::on(&left)
        .caption("training loss (triplet, both directions)", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(first..last, 0.0..max_loss)
        .map_err(|e| e.to_string())?;
    loss.configure_mesh().x_desc("epoch").y_desc("loss").draw().map_err(|e| e.to_string())?;
    loss.draw_series(LineSeries::new(history.iter().map(|r| (r.epoch as f64, r.train_loss)), BLUE.stroke_width(2)))
        .map_err(|e| e.to_string())?;

    let mut recall = ChartBuilder::on(&right)
        .caption("validation recall@K", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(first..last, 0.0..1.0f64)
        .map_err(|e| e.to_string())?;
    recall.configure_mesh().x_desc("epoch").y_desc("recall").draw().map_err(|e| e.to_string())?;
    let colours = [RED, GREEN, BLUE];
    for (i, k) in [1usize, 5, 10].into_iter().enumerate() {
        let at = |r: &crate::RetrievalReport| r.recall_at.iter().find(|(kk, _)| *kk == k).map_or(0.0, |(_, v)| *v);
        let c = colours[i];
        recall
            .draw_series(LineSeries::new(
                history.iter().map(|r| (r.epoch as f64, at(&r.song_to_video))),
                c.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(format!("song->video R@{k}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        recall
            .draw_series(DashedLineSeries::new(
                history.iter().map(|r| (r.epoch as f64, at(&r.video_to_song))),
                6,
                4,
                c.stroke_width(1),
            ))
            .map_err(|e| e.to_string())?
            .label(format!("video->song R@{k}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(1)));
    }
    recall
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// The transfer benchmark as a picture: one panel per family (and pooled), Recall@1/5/10
/// of song -> own video (the videos gallery) for every model in the report.
pub fn transfer(report: &crate::transfer::TransferReport, out: &Path) -> crate::error::Result<()> {
    draw_transfer(report, out).map_err(|message| crate::error::Error::Plot { path: out.to_path_buf(), message })
}

fn draw_transfer(report: &crate::transfer::TransferReport, out: &Path) -> Result<(), String> {
    ensure_font()?;
    let n = report.families.len().max(1);
    let root = BitMapBackend::new(out, (300 * n as u32, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    // One colour per model, one legend for every panel (below them, so no line hides).
    let colours = [
        RGBColor(0, 90, 200),
        RGBColor(120, 170, 255),
        RGBColor(230, 120, 0),
        BLACK,
        RGBColor(150, 0, 150),
        RGBColor(0, 150, 70),
        RGBColor(160, 160, 160),
        RGBColor(200, 30, 30),
    ];
    let (charts, legend) = root.split_vertically(380);
    for (panel, family) in charts.split_evenly((1, n)).iter().zip(&report.families) {
        let caption = format!("{} ({} videos)", family.family, family.videos);
        let mut chart = ChartBuilder::on(panel)
            .caption(caption, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(0.5f64..10.5, 0.0..1.0f64)
            .map_err(|e| e.to_string())?;
        chart.configure_mesh().x_desc("K").y_desc("recall@K").x_labels(10).draw().map_err(|e| e.to_string())?;
        for (i, (_, videos, _)) in family.models.iter().enumerate() {
            let c = colours[i % colours.len()];
            let points: Vec<(f64, f64)> = [1.0, 5.0, 10.0].into_iter().zip(videos.recall_at).collect();
            chart.draw_series(LineSeries::new(points.clone(), c.stroke_width(2))).map_err(|e| e.to_string())?;
            chart.draw_series(points.into_iter().map(|p| Circle::new(p, 3, c.filled()))).map_err(|e| e.to_string())?;
        }
    }
    let models: Vec<&str> = report
        .families
        .first()
        .map_or_else(Vec::new, |f| f.models.iter().map(|(m, _, _)| m.split(" (").next().unwrap_or(m)).collect());
    // Two rows, so that long names do not run into each other.
    let per_row = models.len().div_ceil(2).max(1);
    let step = (300 * n as i32 - 20) / per_row as i32;
    for (i, m) in models.iter().enumerate() {
        let c = colours[i % colours.len()];
        let (x, y) = (10 + step * (i % per_row) as i32, 20 + 25 * (i / per_row) as i32);
        legend.draw(&PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3))).map_err(|e| e.to_string())?;
        legend.draw(&Text::new(m.to_string(), (x + 24, y - 7), ("sans-serif", 13))).map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}
