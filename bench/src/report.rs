//! What a run found: the tables printed, the targets checked, the JSON and the SVG chart.

use crate::harness::Summary;
use std::fmt::Write as _;

/// One row of a case's table.
pub struct Row {
    pub name: String,
    pub unit: &'static str,
    pub runs: Vec<f64>,
}

impl Row {
    pub fn new(s: &Summary, unit: &'static str) -> Row {
        Row { name: s.name.clone(), unit, runs: s.runs.clone() }
    }
    pub fn single(name: impl Into<String>, unit: &'static str, value: f64) -> Row {
        Row { name: name.into(), unit, runs: vec![value] }
    }
    fn summary(&self) -> Summary {
        Summary { name: self.name.clone(), runs: self.runs.clone() }
    }
    pub fn median(&self) -> f64 {
        self.summary().median()
    }
}

/// A case's results.
pub struct Case {
    pub id: u8,
    pub title: String,
    pub rows: Vec<Row>,
    /// (what over what, factor)
    pub ratios: Vec<(String, f64)>,
    pub notes: Vec<String>,
}

impl Case {
    pub fn new(id: u8, title: impl Into<String>) -> Case {
        Case { id, title: title.into(), rows: vec![], ratios: vec![], notes: vec![] }
    }

    pub fn row(&self, name: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.name == name)
    }

    /// `num` over `den`: the median of the per-round ratios when both rows have one figure
    /// per round (runs are interleaved, so round i of each ran side by side), else the ratio
    /// of the medians.
    pub fn ratio_of(&self, num: &str, den: &str) -> Option<f64> {
        let (n, d) = (self.row(num)?, self.row(den)?);
        if n.runs.len() == d.runs.len() && n.runs.len() > 1 {
            let per_round: Vec<f64> = n.runs.iter().zip(&d.runs).map(|(a, b)| a / b).collect();
            Some(crate::harness::median(&per_round))
        } else {
            Some(n.median() / d.median())
        }
    }

    /// [`ratio_of`](Self::ratio_of), recorded for the table.
    pub fn ratio(&mut self, num: &str, den: &str) -> Option<f64> {
        let r = self.ratio_of(num, den)?;
        self.ratios.push((format!("{num} / {den}"), r));
        Some(r)
    }
}

/// One target of the benchmark.
pub struct Target {
    pub case: u8,
    pub goal: String,
    pub measured: String,
    /// None: could not be measured in this run.
    pub met: Option<bool>,
}

impl Target {
    pub fn verdict(&self) -> &'static str {
        match self.met {
            Some(true) => "MET",
            Some(false) => "MISSED",
            None => "NOT MEASURED",
        }
    }
}

fn human(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

pub fn print_case(c: &Case) {
    println!("\nCase {}: {}", c.id, c.title);
    println!("  {:<44} {:>9} {:>9} {:>9}  {:<12} {:>9}", "variant", "median", "min", "max", "unit", "per s");
    for r in &c.rows {
        let s = r.summary();
        let rate = if r.unit.starts_with("ns/") { human(1e9 / s.median()) } else { String::new() };
        println!(
            "  {:<44} {:>9} {:>9} {:>9}  {:<12} {:>9}",
            r.name,
            human(s.median()),
            human(s.min()),
            human(s.max()),
            r.unit,
            rate
        );
    }
    for (what, r) in &c.ratios {
        println!("  ratio  {what} = {r:.2}x");
    }
    for n in &c.notes {
        println!("  note   {n}");
    }
}

pub fn print_targets(targets: &[Target]) {
    println!("\nTargets (case 8: the TCP fabric)");
    for t in targets {
        println!("  case {}  {:<12} {:<58} measured: {}", t.case, t.verdict(), t.goal, t.measured);
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_num(v: f64) -> String {
    if v.is_finite() { format!("{v:.3}") } else { "null".into() }
}

fn json_list(items: impl IntoIterator<Item = String>) -> String {
    format!("[{}]", items.into_iter().collect::<Vec<_>>().join(", "))
}

/// The whole run as JSON (hand-written: no dependency for a dozen lines).
pub fn json(settings: &str, cases: &[Case], targets: &[Target]) -> String {
    let cases = json_list(cases.iter().map(|c| {
        let rows = json_list(c.rows.iter().map(|r| {
            let s = r.summary();
            format!(
                "{{\"name\": {}, \"unit\": {}, \"median\": {}, \"min\": {}, \"max\": {}, \"runs\": {}}}",
                json_str(&r.name),
                json_str(r.unit),
                json_num(s.median()),
                json_num(s.min()),
                json_num(s.max()),
                json_list(r.runs.iter().map(|&v| json_num(v)))
            )
        }));
        let ratios = json_list(
            c.ratios.iter().map(|(w, r)| format!("{{\"ratio\": {}, \"value\": {}}}", json_str(w), json_num(*r))),
        );
        let notes = json_list(c.notes.iter().map(|n| json_str(n)));
        format!(
            "\n    {{\"case\": {}, \"title\": {}, \"rows\": {rows}, \"ratios\": {ratios}, \"notes\": {notes}}}",
            c.id,
            json_str(&c.title)
        )
    }));
    let targets = json_list(targets.iter().map(|t| {
        format!(
            "\n    {{\"case\": {}, \"goal\": {}, \"measured\": {}, \"verdict\": {}}}",
            t.case,
            json_str(&t.goal),
            json_str(&t.measured),
            json_str(t.verdict())
        )
    }));
    format!("{{\n  \"settings\": {settings},\n  \"cases\": {cases},\n  \"targets\": {targets}\n}}\n")
}

/// A round axis step (1, 2, 2.5 or 5 times a power of ten) of at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let mag = 10f64.powf(raw.max(1e-9).log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag)
}

/// One panel of the scaling chart: labelled points with median and min..max.
pub struct Panel<'a> {
    pub title: &'a str,
    pub axis: &'a str,
    pub points: Vec<(&'a str, &'a Row)>,
}

/// The scaling chart: one panel per sweep, bars at the median, whiskers from min to max, and
/// the target line at 1.3x the smallest case.
pub fn scaling_svg(panels: &[Panel<'_>], limit: f64) -> String {
    const PW: f64 = 380.0;
    const PH: f64 = 300.0;
    const LEFT: f64 = 60.0;
    const TOP: f64 = 50.0;
    let width = PW * panels.len() as f64 + 20.0;
    let height = PH + TOP + 30.0;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">\
         wspsan: cost of one connection pair under load (ns, lower is better)</text>\n",
        width / 2.0
    );
    for (i, p) in panels.iter().enumerate() {
        let x0 = i as f64 * PW + LEFT;
        let plot_w = PW - LEFT - 20.0;
        let plot_h = PH - 40.0;
        let base = p.points.first().map_or(f64::NAN, |(_, r)| r.median());
        let top = p.points.iter().map(|(_, r)| r.summary().max()).fold(base * limit, f64::max).max(1.0) * 1.1;
        let step = nice_step(top / 4.0);
        let ymax = (top / step).ceil() * step;
        let y = |v: f64| TOP + plot_h - v / ymax * plot_h;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>",
            x0 + plot_w / 2.0,
            TOP - 8.0,
            p.title
        );
        let _ = writeln!(s, "<line x1=\"{x0}\" y1=\"{TOP}\" x2=\"{x0}\" y2=\"{}\" stroke=\"black\"/>", TOP + plot_h);
        let _ = writeln!(
            s,
            "<line x1=\"{x0}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"black\"/>",
            TOP + plot_h,
            x0 + plot_w
        );
        for k in 0..=(ymax / step).round() as usize {
            let v = step * k as f64;
            let (yv, tick, lx, ly, label) = (y(v), x0 - 4.0, x0 - 6.0, y(v) + 4.0, human(v));
            let _ = writeln!(
                s,
                "<line x1=\"{tick}\" y1=\"{yv}\" x2=\"{x0}\" y2=\"{yv}\" stroke=\"black\"/>\
                 <text x=\"{lx}\" y=\"{ly}\" text-anchor=\"end\">{label}</text>"
            );
        }
        if base.is_finite() {
            let yl = y(base * limit);
            let _ = writeln!(
                s,
                "<line x1=\"{x0}\" y1=\"{yl}\" x2=\"{}\" y2=\"{yl}\" stroke=\"#c0392b\" stroke-dasharray=\"6 4\"/>",
                x0 + plot_w
            );
        }
        let slot = plot_w / p.points.len().max(1) as f64;
        for (j, (label, r)) in p.points.iter().enumerate() {
            let sum = r.summary();
            let cx = x0 + slot * (j as f64 + 0.5);
            let bw = slot * 0.5;
            let (med, lo, hi) = (sum.median(), sum.min(), sum.max());
            let (bx, by, bh) = (cx - bw / 2.0, y(med), TOP + plot_h - y(med));
            let _ = writeln!(s, "<rect x=\"{bx}\" y=\"{by}\" width=\"{bw}\" height=\"{bh}\" fill=\"#2e86c1\"/>");
            let (ylo, yhi, l, r) = (y(lo), y(hi), cx - 6.0, cx + 6.0);
            let _ = writeln!(
                s,
                "<line x1=\"{cx}\" y1=\"{ylo}\" x2=\"{cx}\" y2=\"{yhi}\" stroke=\"black\"/>\
                 <line x1=\"{l}\" y1=\"{yhi}\" x2=\"{r}\" y2=\"{yhi}\" stroke=\"black\"/>\
                 <line x1=\"{l}\" y1=\"{ylo}\" x2=\"{r}\" y2=\"{ylo}\" stroke=\"black\"/>"
            );
            let (ty, value, ly) = (yhi - 5.0, human(med), TOP + plot_h + 16.0);
            let _ = writeln!(
                s,
                "<text x=\"{cx}\" y=\"{ty}\" text-anchor=\"middle\">{value}</text>\
                 <text x=\"{cx}\" y=\"{ly}\" text-anchor=\"middle\">{label}</text>"
            );
        }
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            x0 + plot_w / 2.0,
            TOP + plot_h + 36.0,
            p.axis
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"10\" y=\"{}\" fill=\"#555\">bars: median of the runs; whiskers: min..max; runs interleaved. \
         <tspan fill=\"#c0392b\">dashed: target, {limit}x the leftmost bar</tspan></text>",
        height - 8.0
    );
    s.push_str("</svg>\n");
    s
}
