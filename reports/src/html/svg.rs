//! One chart drawer for every chart in the report: axes (linear or
//! log-decade), optional fault bands, and either lines or stacked areas.
//! Output is plain inline SVG, so the page needs no script or library.

use super::escape;

/// Every chart's width (in viewBox units), and its margins either side of
/// the plot.
pub const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 320.0;
pub const LEFT: f64 = 72.0;
pub const RIGHT: f64 = 24.0;
/// Room for the title and the legend above the plot area.
const TOP: f64 = 52.0;
const BOTTOM: f64 = 44.0;
const PLOT_WIDTH: f64 = WIDTH - LEFT - RIGHT;
const PLOT_HEIGHT: f64 = HEIGHT - TOP - BOTTOM;
/// Each further row of the legend.
const LEGEND_ROW: f64 = 16.0;

/// Colours for series that have no meaning of their own (one per `.hgrm`).
pub const PALETTE: [&str; 6] = ["#1c7ed6", "#e8590c", "#2f9e44", "#ae3ec9", "#f08c00", "#0c8599"];

pub struct Axis {
    label: String,
    log: bool,
    min: f64,
    max: f64,
    ticks: Vec<(f64, String)>,
}

impl Axis {
    /// From 0 to a round number at or above `data_max`, with 1-2-5 steps.
    pub fn linear(label: &str, data_max: f64) -> Axis {
        let data_max = if data_max > 0.0 { data_max } else { 1.0 };
        let step = round_step(data_max / 5.0);
        let decimals = (-step.log10().floor()).max(0.0) as usize;
        let steps = (data_max / step).ceil() as usize;
        let ticks = (0..=steps).map(|i| (i as f64 * step, format!("{:.*}", decimals, i as f64 * step))).collect();
        Axis { label: label.into(), log: false, min: 0.0, max: steps as f64 * step, ticks }
    }

    /// Whole decades around `[lo, hi]` (both > 0), a tick on each;
    /// `tick_label` names the tick at 10^k from k.
    pub fn log_decades(label: &str, lo: f64, hi: f64, tick_label: impl Fn(i32) -> String) -> Axis {
        // The slack keeps 1/(1 - 0.99999) = 100000.000008 in the decade of
        // 100000 rather than starting another.
        let first = (lo.log10() + 1e-9).floor() as i32;
        let last = ((hi.log10() - 1e-9).ceil() as i32).max(first + 1);
        let ticks = (first..=last).map(|k| (10f64.powi(k), tick_label(k))).collect();
        Axis { label: label.into(), log: true, min: 10f64.powi(first), max: 10f64.powi(last), ticks }
    }

    /// Where `value` falls between the axis ends (0 to 1); none for a
    /// value a log axis cannot show.
    pub fn fraction(&self, value: f64) -> Option<f64> {
        if !self.log {
            return Some((value - self.min) / (self.max - self.min));
        }
        (value > 0.0).then(|| (value.ln() - self.min.ln()) / (self.max.ln() - self.min.ln()))
    }
}

/// The smallest 1, 2 or 5 times a power of ten at or above `raw`.
fn round_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0].into_iter().map(|m| m * magnitude).find(|&step| step >= raw).unwrap_or(10.0 * magnitude)
}

/// A line; `None` values leave a gap rather than pretend to be zero.
pub struct Series {
    pub name: String,
    pub colour: &'static str,
    pub points: Vec<(f64, Option<f64>)>,
}

/// One layer of a stacked area chart: `values[i]` belongs at `x[i]`.
pub struct Layer {
    pub name: &'static str,
    pub colour: &'static str,
    pub values: Vec<f64>,
}

pub enum Plot {
    Lines(Vec<Series>),
    /// Layers drawn on top of each other, the first at the bottom.
    StackedAreas {
        x: Vec<f64>,
        layers: Vec<Layer>,
    },
}

/// A shaded x range, such as the time a fault was in force.
#[derive(Clone)]
pub struct Band {
    pub start: f64,
    pub end: f64,
    pub label: String,
}

pub struct Chart {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub plot: Plot,
    pub bands: Vec<Band>,
}

pub fn render(chart: &Chart) -> String {
    let (legend, rows) = legend(&chart.plot);
    // A legend of more rows than one pushes the chart down by as many.
    let shift = LEGEND_ROW * rows.saturating_sub(1) as f64;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {}\" role=\"img\" aria-label=\"{title}\">\n\
         <text x=\"{LEFT}\" y=\"18\" font-size=\"13\" font-weight=\"bold\">{title}</text>\n{legend}\
         <g transform=\"translate(0 {shift})\">\n",
        HEIGHT + shift,
        title = escape(&chart.title)
    );
    svg += &bands(chart);
    svg += &axes(&chart.x, &chart.y);
    svg += &match &chart.plot {
        Plot::Lines(series) => series.iter().map(|s| line(s, &chart.x, &chart.y)).collect(),
        Plot::StackedAreas { x, layers } => stacked_areas(x, layers, &chart.x, &chart.y),
    };
    svg + "</g>\n</svg>\n"
}

fn x_position(axis: &Axis, value: f64) -> Option<f64> {
    axis.fraction(value).map(|f| LEFT + f.clamp(0.0, 1.0) * PLOT_WIDTH)
}

fn y_position(axis: &Axis, value: f64) -> Option<f64> {
    axis.fraction(value).map(|f| TOP + PLOT_HEIGHT - f.clamp(0.0, 1.0) * PLOT_HEIGHT)
}

/// The legend, in as many rows as it takes to fit the width; and how many.
fn legend(plot: &Plot) -> (String, usize) {
    let entries: Vec<(&str, &str)> = match plot {
        Plot::Lines(series) => series.iter().map(|s| (s.name.as_str(), s.colour)).collect(),
        Plot::StackedAreas { layers, .. } => layers.iter().map(|l| (l.name, l.colour)).collect(),
    };
    let (mut x, mut row) = (LEFT, 0);
    let mut svg = String::new();
    for (name, colour) in entries {
        // No text metrics without a browser: budget ~7 px per character.
        let width = 28.0 + 7.0 * name.chars().count() as f64;
        if x > LEFT && x + width > WIDTH - RIGHT {
            (x, row) = (LEFT, row + 1);
        }
        let y = 30.0 + LEGEND_ROW * row as f64;
        svg += &format!(
            "<rect x=\"{x:.1}\" y=\"{y}\" width=\"12\" height=\"12\" fill=\"{colour}\"/>\
             <text x=\"{:.1}\" y=\"{}\">{}</text>\n",
            x + 16.0,
            y + 10.0,
            escape(name)
        );
        x += width;
    }
    (svg, row + 1)
}

fn bands(chart: &Chart) -> String {
    let mut svg = String::new();
    for (i, band) in chart.bands.iter().enumerate() {
        let (Some(start), Some(end)) = (x_position(&chart.x, band.start), x_position(&chart.x, band.end)) else {
            continue;
        };
        // Staggered so that the labels of overlapping faults stay legible.
        let label_y = TOP + 12.0 + (i % 3) as f64 * 12.0;
        svg += &shaded_band(band, (start, end), (TOP, PLOT_HEIGHT), label_y);
    }
    svg
}

/// A fault window shaded from `x.0` to `x.1` over `y.0` to `y.0 + y.1`,
/// labelled at `label_y`.
pub fn shaded_band(band: &Band, x: (f64, f64), y: (f64, f64), label_y: f64) -> String {
    let label = escape(&band.label);
    format!(
        "<g class=\"fault\"><title>{label}: {:.2} s to {:.2} s</title>\
         <rect x=\"{:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"#fa5252\" fill-opacity=\"0.15\"/>\
         <text x=\"{:.1}\" y=\"{label_y:.1}\" fill=\"#c92a2a\" font-weight=\"bold\">{label}</text></g>\n",
        band.start,
        band.end,
        x.0,
        y.0,
        (x.1 - x.0).max(1.0),
        y.1,
        x.0 + 3.0,
    )
}

/// Tick marks and labels along `axis` drawn from `left` over `width`, under
/// a plot that ends at `bottom`; ticks past the axis end are left out.
pub fn x_ticks(axis: &Axis, left: f64, width: f64, bottom: f64) -> String {
    let mut svg = String::new();
    for (value, label) in &axis.ticks {
        let Some(at) = axis.fraction(*value).filter(|f| (0.0..=1.0).contains(f)).map(|f| left + f * width) else {
            continue;
        };
        svg += &format!(
            "<line x1=\"{at:.1}\" y1=\"{bottom}\" x2=\"{at:.1}\" y2=\"{:.1}\" stroke=\"#868e96\"/>\
             <text x=\"{at:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
            bottom + 5.0,
            bottom + 17.0,
            escape(label)
        );
    }
    svg
}

fn axes(x: &Axis, y: &Axis) -> String {
    let bottom = TOP + PLOT_HEIGHT;
    let mut svg = format!(
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{PLOT_WIDTH}\" height=\"{PLOT_HEIGHT}\" fill=\"none\" stroke=\"#868e96\"/>\n"
    );
    svg += &x_ticks(x, LEFT, PLOT_WIDTH, bottom);
    for (value, label) in &y.ticks {
        let Some(at) = y_position(y, *value) else { continue };
        svg += &format!(
            "<line x1=\"{LEFT}\" y1=\"{at:.1}\" x2=\"{:.1}\" y2=\"{at:.1}\" stroke=\"#e9ecef\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            LEFT + PLOT_WIDTH,
            LEFT - 6.0,
            at + 4.0,
            escape(label)
        );
    }
    svg + &format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n\
         <text transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
        LEFT + PLOT_WIDTH / 2.0,
        HEIGHT - 6.0,
        escape(&x.label),
        TOP + PLOT_HEIGHT / 2.0,
        escape(&y.label)
    )
}

fn line(series: &Series, x: &Axis, y: &Axis) -> String {
    let mut path = String::new();
    let mut pen_down = false;
    for &(value_x, value_y) in &series.points {
        let at = x_position(x, value_x).zip(value_y.and_then(|v| y_position(y, v)));
        match at {
            Some((px, py)) if pen_down => path += &format!("L{px:.1},{py:.1}"),
            // Each run starts with a zero-length segment so that, with round
            // caps, a point between two gaps still shows as a dot.
            Some((px, py)) => path += &format!("M{px:.1},{py:.1}L{px:.1},{py:.1}"),
            None => {}
        }
        pen_down = at.is_some();
    }
    format!(
        "<path d=\"{path}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" stroke-linecap=\"round\" stroke-linejoin=\"round\"/>\n",
        series.colour
    )
}

fn stacked_areas(xs: &[f64], layers: &[Layer], x: &Axis, y: &Axis) -> String {
    let mut below = vec![0.0; xs.len()];
    let mut svg = String::new();
    for layer in layers {
        let above: Vec<f64> = below.iter().zip(&layer.values).map(|(b, v)| b + v).collect();
        // The outline: along the top of this layer, then back along the top
        // of the one below.
        let outline = xs.iter().zip(&above).chain(xs.iter().zip(&below).rev());
        let points: Vec<String> = outline
            .filter_map(|(&px, &py)| Some(format!("{:.1},{:.1}", x_position(x, px)?, y_position(y, py)?)))
            .collect();
        if !points.is_empty() {
            svg += &format!("<path d=\"M{}Z\" fill=\"{}\" fill-opacity=\"0.85\"/>\n", points.join("L"), layer.colour);
        }
        below = above;
    }
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(series: usize) -> String {
        let series = (0..series)
            .map(|i| Series { name: format!("series number {i}"), colour: PALETTE[0], points: vec![(1.0, Some(1.0))] })
            .collect();
        render(&Chart {
            title: "t".into(),
            x: Axis::linear("x", 1.0),
            y: Axis::linear("y", 1.0),
            plot: Plot::Lines(series),
            bands: vec![],
        })
    }

    #[test]
    fn a_legend_too_wide_for_one_row_wraps_and_the_chart_grows_to_hold_it() {
        assert!(chart(2).contains(&format!("viewBox=\"0 0 {WIDTH} {HEIGHT}\"")));
        // 20 entries of ~150 px: 6 to a row of 864 px, so 4 rows.
        let wide = chart(20);
        assert!(wide.contains(&format!("viewBox=\"0 0 {WIDTH} {}\"", HEIGHT + 3.0 * LEGEND_ROW)), "{wide}");
        assert!(wide.contains(&format!("translate(0 {})", 3.0 * LEGEND_ROW)));
        let rightmost = wide
            .match_indices("<rect x=\"")
            .map(|(i, m)| &wide[i + m.len()..])
            .filter_map(|rest| rest.split('"').next()?.parse::<f64>().ok());
        assert!(rightmost.fold(0.0, f64::max) < WIDTH - RIGHT, "no entry starts past the edge");
    }
}
