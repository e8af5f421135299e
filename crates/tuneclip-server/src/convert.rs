//! Core types -> protobuf.

use tuneclip_core::{CameraMode, CropPlan, Rect, TimeRange};
use tuneclip_proto::v1 as pb;

pub fn range(r: TimeRange) -> pb::TimeRange {
    pb::TimeRange { start_s: r.start_s, end_s: r.end_s }
}

pub fn rect(r: Rect) -> pb::Rect {
    pb::Rect { x: r.x, y: r.y, width: r.width, height: r.height }
}

pub fn plan(p: &CropPlan) -> pb::CropPlan {
    pb::CropPlan {
        source_width: p.source_width,
        source_height: p.source_height,
        active: Some(rect(p.active)),
        keyframes: p.keyframes.iter().map(|k| pb::CropKeyframe { t_s: k.t_s, rect: Some(rect(k.rect)) }).collect(),
        shots: p
            .shots
            .iter()
            .map(|(r, m)| pb::Shot {
                range: Some(range(*r)),
                mode: match m {
                    CameraMode::Stationary => pb::CameraMode::Stationary,
                    CameraMode::Panning => pb::CameraMode::Panning,
                    CameraMode::Tracking => pb::CameraMode::Tracking,
                    CameraMode::Padded => pb::CameraMode::Padded,
                } as i32,
            })
            .collect(),
    }
}
