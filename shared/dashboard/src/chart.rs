//! Bar charts drawn on the server as inline SVG: no script, no image
//! request, nothing the Content-Security-Policy has to allow. Geometry is
//! computed here; the template only places it (and escapes the labels).

use askama::Template;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 40.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 12.0;

pub(crate) struct Bar {
    pub x: String,
    pub y: String,
    pub width: String,
    pub height: String,
    pub label: String,
    /// The value as the tooltip and the label above the bar say it.
    pub value: String,
    pub label_x: String,
    /// Shown under the axis (every bar when few, else every few).
    pub show_label: bool,
}

#[derive(Template)]
#[template(path = "chart.html")]
pub(crate) struct BarChart {
    pub id: &'static str,
    pub title: String,
    pub bars: Vec<Bar>,
    pub max_label: String,
    pub empty: bool,
    pub width: f64,
    pub height: f64,
    pub axis_y: String,
    pub label_y: String,
}

/// A chart of `points` (label, value); `percent` scales to 100 and says `%`.
pub(crate) fn bar_chart(id: &'static str, title: &str, points: &[(String, f64)], percent: bool) -> BarChart {
    let max = if percent { 100.0 } else { points.iter().map(|p| p.1).fold(0.0_f64, f64::max).max(1.0) };
    let plot_w = WIDTH - LEFT - 8.0;
    let plot_h = HEIGHT - BOTTOM - TOP;
    let slot = plot_w / points.len().max(1) as f64;
    let every = (points.len() / 10).max(1);
    let bars = points
        .iter()
        .enumerate()
        .map(|(i, (label, v))| {
            let h = (v / max * plot_h).max(0.0);
            let x = LEFT + i as f64 * slot + slot * 0.15;
            Bar {
                x: format!("{x:.1}"),
                y: format!("{:.1}", TOP + plot_h - h),
                width: format!("{:.1}", slot * 0.7),
                height: format!("{h:.1}"),
                label: label.clone(),
                value: if percent { format!("{v:.0}%") } else { format!("{v:.0}") },
                label_x: format!("{:.1}", x + slot * 0.35),
                show_label: i % every == 0,
            }
        })
        .collect();
    BarChart {
        id,
        title: title.to_owned(),
        bars,
        max_label: if percent { "100%".into() } else { format!("{max:.0}") },
        empty: points.iter().all(|p| p.1 == 0.0),
        width: WIDTH,
        height: HEIGHT,
        axis_y: format!("{:.1}", TOP + plot_h),
        label_y: format!("{:.1}", HEIGHT - 8.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tallest_bar_fills_the_plot_and_labels_are_escaped() {
        let c = bar_chart("c", "T", &[("a".into(), 2.0), ("<b>".into(), 4.0)], false);
        assert_eq!(c.bars[1].height, format!("{:.1}", HEIGHT - BOTTOM - TOP));
        assert_eq!(c.bars[0].height, format!("{:.1}", (HEIGHT - BOTTOM - TOP) / 2.0));
        let html = c.render().unwrap();
        assert!(html.contains("&#60;b&#62;") || html.contains("&lt;b&gt;"), "{html}");
        assert!(!html.contains("<b>"));
    }
}
