//! SVG plots with plotters (SVG backend only).

use std::path::Path;

use anyhow::{anyhow, Context};
use plotters::prelude::*;

const WIDTH_PX: u32 = 900;
const ROW_PX: u32 = 28;

fn create_dir(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing {}: {e}", path.display())
}

/// A horizontal bar per `(name, value)`, labelled with its name and value.
pub fn bars(path: &Path, title: &str, unit: &str, rows: &[(String, u64)]) -> anyhow::Result<()> {
    create_dir(path)?;
    let n = rows.len().max(1);
    let height = 90 + ROW_PX * n as u32;
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1) as f64;
    let root = SVGBackend::new(path, (WIDTH_PX, height)).into_drawing_area();
    let e = |e| plot_err(path, e);
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(10)
        // Room on the right of the longest bar for its label.
        .build_cartesian_2d(0f64..max * 1.9, 0f64..n as f64)
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_desc(unit)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(e)?;
    let top = |i: usize| (n - i) as f64;
    chart
        .draw_series(rows.iter().enumerate().map(|(i, (_, v))| {
            Rectangle::new(
                [(0.0, top(i) - 0.8), (*v as f64, top(i) - 0.2)],
                BLUE.mix(0.6).filled(),
            )
        }))
        .map_err(e)?;
    chart
        .draw_series(rows.iter().enumerate().map(|(i, (name, v))| {
            Text::new(
                format!("{name}: {v}"),
                (*v as f64 + max * 0.01, top(i) - 0.65),
                ("sans-serif", 14),
            )
        }))
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

/// One line with points per named series.
pub fn lines(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(u32, u64)>)],
) -> anyhow::Result<()> {
    let series: Vec<(String, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(name, pts)| {
            let pts = pts
                .iter()
                .map(|(x, y)| (f64::from(*x), *y as f64))
                .collect();
            (name.clone(), pts)
        })
        .collect();
    lines_f64(path, title, x_desc, y_desc, &series)
}

/// Labels of an axis running up to `max`: integers when the range is large, decimals below.
fn axis_label(max: f64) -> impl Fn(&f64) -> String {
    move |v: &f64| {
        if max >= 100.0 {
            format!("{v:.0}")
        } else if max >= 1.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.3}")
        }
    }
}

/// One line with points per named series, for fractional values (milliseconds, rates).
pub fn lines_f64(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> anyhow::Result<()> {
    create_dir(path)?;
    let pts = series.iter().flat_map(|s| s.1.iter());
    let (mut x_max, mut y_max) = (1f64, 0f64);
    for (x, y) in pts {
        x_max = x_max.max(*x);
        y_max = y_max.max(*y);
    }
    if y_max <= 0.0 || !y_max.is_finite() {
        y_max = 1.0;
    }
    let root = SVGBackend::new(path, (WIDTH_PX, 500)).into_drawing_area();
    let e = |e| plot_err(path, e);
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..x_max * 1.05, 0f64..y_max * 1.1)
        .map_err(e)?;
    let y_label = axis_label(y_max);
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&y_label)
        .draw()
        .map_err(e)?;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(e)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))
            .map_err(e)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

/// One horizontal bar per row, split into stacked parts (`parts[j]` names part `j`, which has
/// value `rows[i].1[j]` in row `i`), with a legend; `unit` labels the axis.
pub fn stacked_bars(
    path: &Path,
    title: &str,
    unit: &str,
    parts: &[&str],
    rows: &[(String, Vec<f64>)],
) -> anyhow::Result<()> {
    create_dir(path)?;
    let n = rows.len().max(1);
    let height = (140 + 2 * ROW_PX * n as u32).max(260);
    let max = rows
        .iter()
        .map(|r| r.1.iter().filter(|v| v.is_finite()).sum::<f64>())
        .fold(0f64, f64::max);
    let max = if max > 0.0 { max } else { 1.0 };
    let root = SVGBackend::new(path, (WIDTH_PX, height)).into_drawing_area();
    let e = |e| plot_err(path, e);
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(10)
        // Room on the right for the labels and the legend.
        .build_cartesian_2d(0f64..max * 1.8, 0f64..n as f64)
        .map_err(e)?;
    let x_label = axis_label(max);
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_desc(unit)
        .x_label_formatter(&x_label)
        .draw()
        .map_err(e)?;
    let top = |i: usize| (n - i) as f64;
    for (j, part) in parts.iter().enumerate() {
        let color = Palette99::pick(j).to_rgba();
        let bars: Vec<_> = rows
            .iter()
            .enumerate()
            .map(|(i, (_, values))| {
                let start: f64 = values[..j.min(values.len())].iter().sum();
                let v = values.get(j).copied().unwrap_or(0.0);
                Rectangle::new(
                    [(start, top(i) - 0.8), (start + v, top(i) - 0.3)],
                    color.filled(),
                )
            })
            .collect();
        chart
            .draw_series(bars)
            .map_err(e)?
            .label(*part)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], color.filled()));
    }
    chart
        .draw_series(rows.iter().enumerate().map(|(i, (name, values))| {
            let total: f64 = values.iter().sum();
            Text::new(
                format!("{name}: {total:.1} {unit}"),
                (total + max * 0.01, top(i) - 0.65),
                ("sans-serif", 14),
            )
        }))
        .map_err(e)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}
