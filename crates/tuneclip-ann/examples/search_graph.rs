//! Search-only timing of a saved graph, without building anything:
//!
//! `cargo run --release -p tuneclip-ann --example search_graph -- VECTORS GRAPH QUERIES GT`
//!
//! VECTORS and GRAPH as `Vectors::write` / `HnswIndex::write_graph` make them (the ANN
//! bench leaves both in `target/ann-bench`, with `queries.f32` and `gt.u32`: raw
//! little-endian queries and exact top-10 ids). GRAPH may also be hnswlib's own graph,
//! converted by `benches/hnswlib_graph.py`: the same search over both graphs tells the
//! graph's share of a speed gap from the search code's. Best of five passes per ef.
use std::sync::Arc;
use std::time::Instant;
use tuneclip_ann::{HnswIndex, VectorIndex, Vectors};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 5 {
        eprintln!("usage: search_graph VECTORS GRAPH QUERIES.f32 GT.u32");
        std::process::exit(2);
    }
    let v = Arc::new(Vectors::read(a[1].as_ref()).expect("vectors"));
    let g = HnswIndex::read_graph(a[2].as_ref(), v.clone()).expect("graph");
    let qb = std::fs::read(&a[3]).expect("queries");
    let q: Vec<f32> = qb.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let q = Vectors::new(v.dim(), q).expect("q");
    let gb = std::fs::read(&a[4]).expect("gt");
    let gt: Vec<u32> = gb.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    for ef in [10, 24, 48, 64] {
        let mut best = f64::MAX;
        let mut hits = 0;
        for _ in 0..5 {
            hits = 0;
            let t = Instant::now();
            for i in 0..q.len() {
                let r = g.search(q.row(i), 10, ef);
                hits += r.iter().filter(|h| gt[i * 10..i * 10 + 10].contains(&h.id)).count();
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!("ef {ef}: recall {:.4} {:.0} q/s", hits as f64 / (q.len() * 10) as f64, q.len() as f64 / best);
    }
}
