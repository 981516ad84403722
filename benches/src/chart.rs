//! The chart of BENCHMARKS.md: levent's ratio to libevent and to mio per benchmark, as bars (below
//! 1 is better for levent whatever the metric; the 1.0 line is parity).

use plotters::prelude::*;
use std::io;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Draw `rows` (label, levent/libevent, levent/mio; lower is better) into a PNG at `path`.
/// Rows without any ratio (levent-only metrics such as allocations) are left out; a bar longer
/// than the axis is cut at its end and labelled with its value.
pub fn draw(path: &str, rows: &[(String, Option<f64>, Option<f64>)]) -> io::Result<()> {
    let rows: Vec<_> = rows
        .iter()
        .filter(|(_, a, b)| a.is_some() || b.is_some())
        .collect();
    let font = std::fs::read(FONT).map_err(|e| io::Error::new(e.kind(), format!("{FONT}: {e}")))?;
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("{FONT}: bad font")))?;
    let height = 120 + 34 * rows.len() as u32;
    // Room for the longest label (DejaVu Sans at 14 px averages under 8 px a character), and
    // 670 px for the bars.
    let longest = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let label_area = 16 + 8 * longest as u32;
    let root = BitMapBackend::new(path, (label_area + 670, height)).into_drawing_area();
    root.fill(&WHITE).map_err(io::Error::other)?;
    let max = rows
        .iter()
        .flat_map(|(_, a, b)| [a, b])
        .flatten()
        .copied()
        .fold(1.5f64, f64::max)
        .min(4.0);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "levent / peer (lower is better; 1.0 = parity)",
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(label_area)
        .build_cartesian_2d(0f64..max, 0..rows.len() as i32 * 3)
        .map_err(io::Error::other)?;
    let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(rows.len() * 3)
        .y_label_formatter(&|y| {
            let i = (*y / 3) as usize;
            if *y % 3 == 1 {
                labels
                    .get(rows.len().wrapping_sub(1 + i))
                    .cloned()
                    .unwrap_or_default()
            } else {
                String::new()
            }
        })
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(io::Error::other)?;
    let n = rows.len() as i32;
    for (i, (_, vs_libevent, vs_mio)) in rows.iter().enumerate() {
        let base = (n - 1 - i as i32) * 3;
        for (k, v, color) in [
            (1, vs_libevent, RGBColor(214, 96, 77)),
            (0, vs_mio, RGBColor(67, 147, 195)),
        ] {
            if let Some(v) = *v {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(0.0, base + k), (v.min(max), base + k + 1)],
                        color.filled(),
                    )))
                    .map_err(io::Error::other)?;
                if v > max {
                    chart
                        .draw_series(std::iter::once(Text::new(
                            format!("{v:.1}"),
                            (max * 0.93, base + k + 1),
                            ("sans-serif", 13).into_font().color(&WHITE),
                        )))
                        .map_err(io::Error::other)?;
                }
            }
        }
    }
    chart
        .draw_series(LineSeries::new(
            [(1.0, 0), (1.0, n * 3)],
            BLACK.stroke_width(2),
        ))
        .map_err(io::Error::other)?;
    root.draw(&Text::new(
        "red: vs libevent 2.1   blue: vs mio 1.x (hyper 1.x for HTTP)",
        (360, (height - 24) as i32),
        ("sans-serif", 15),
    ))
    .map_err(io::Error::other)?;
    root.present().map_err(io::Error::other)
}
