//! `make bench`: wspsan's connection setup against kernel TCP on 127.0.0.1, kernel AF_UNIX
//! and in-process floors, cases 1 to 6 (case 7, Python, is bench/python_bench.py),
//! and across two processes over the TCP fabric, cases 8 and 9 (the bench runs itself again as
//! the server process, with the hidden flag `--fabric-server`).
//!
//! Usage: wspsan-bench [--runs N] [--run-ms MS] [--cases 1,2,...]
//! Prints the tables, the ratios and the targets; writes target/bench/results.json and
//! target/bench/scaling.svg (copied to docs/bench-scaling.svg).

mod alloc;
mod capi;
mod cases;
mod floor;
mod handoff;
mod harness;
mod kernel;
mod relay;
mod remote;
mod report;
mod scripted;
mod wsp;

use harness::Settings;
use report::{Case, Panel};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[global_allocator]
static COUNTING: alloc::Counting = alloc::Counting;

struct Args {
    settings: Settings,
    cases: Vec<u8>,
    /// `--profile NAME N`: run one loop N times and nothing else.
    profile: Option<(String, u64)>,
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "wspsan-bench: {msg}\nusage: wspsan-bench [--runs N (>= 5)] [--run-ms MS] [--cases 1,2,3,4,5,6,8,9]\n       wspsan-bench --profile NAME N   (one loop N times, for perf, callgrind or strace -f; NAME: {}, {})",
        cases::PROFILES.join(", "),
        remote::PROFILES.join(", ")
    );
    std::process::exit(2);
}

/// The cases this program runs, all by default (case 7 is Python: bench/python_bench.py).
const CASES: [u8; 8] = [1, 2, 3, 4, 5, 6, 8, 9];

fn parse_args() -> Args {
    let mut args = Args {
        settings: Settings { runs: 7, run_time: Duration::from_millis(200) },
        cases: CASES.to_vec(),
        profile: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage(&format!("{a} needs a value")));
        match a.as_str() {
            "--runs" => args.settings.runs = value().parse().unwrap_or_else(|_| usage("--runs: a number")),
            "--run-ms" => {
                let ms = value().parse().unwrap_or_else(|_| usage("--run-ms: a number"));
                args.settings.run_time = Duration::from_millis(ms);
            }
            "--cases" => {
                args.cases = value()
                    .split(',')
                    .map(|c| {
                        c.trim()
                            .parse()
                            .ok()
                            .filter(|n| CASES.contains(n))
                            .unwrap_or_else(|| usage("--cases: 1 to 6, 8, 9 (7 is bench/python_bench.py)"))
                    })
                    .collect();
            }
            "--profile" => {
                let name = value();
                if !cases::PROFILES.contains(&name.as_str()) && !remote::PROFILES.contains(&name.as_str()) {
                    usage(&format!("unknown profile {name}"));
                }
                let n = value().parse().unwrap_or_else(|_| usage("--profile NAME N: N a number"));
                args.profile = Some((name, n));
            }
            "-h" | "--help" => usage("help"),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if args.settings.runs < 5 {
        eprintln!("wspsan-bench: note: fewer than 5 runs; the targets are judged on at least 5");
    }
    args
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("bench/ is inside the workspace").to_path_buf()
}

fn out_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace().join("target"), PathBuf::from).join("bench")
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").map_or("?".into(), |s| s.trim().to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores, Linux {kernel}")
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some(remote::SERVER_FLAG) {
        remote::server_main(&argv[2..]);
    }
    let args = parse_args();
    if let Some((name, n)) = &args.profile {
        if remote::PROFILES.contains(&name.as_str()) {
            let t = Instant::now();
            remote::profile(name, *n);
            println!("{name}: {n} iterations in {:.3} s", t.elapsed().as_secs_f64());
            return;
        }
        let capi = capi::CAbi::start();
        let t = Instant::now();
        cases::profile(name, *n, &capi);
        println!("{name}: {n} iterations in {:.3} s", t.elapsed().as_secs_f64());
        return;
    }
    let started = Instant::now();
    let machine = machine();
    println!(
        "wspsan benchmark: {} runs per variant, ~{} ms each, interleaved",
        args.settings.runs,
        args.settings.run_time.as_millis()
    );
    println!("machine: {machine}");
    println!("ratios: median of the per-round ratios (round i of every variant ran side by side)");
    let capi = capi::CAbi::start();
    let ctx = cases::Ctx { settings: args.settings, capi: Some(&capi), core: wspsan_core::Provider::new() };
    let mut done: Vec<Case> = vec![];
    for id in &args.cases {
        let t = Instant::now();
        let case = match id {
            1 => cases::single_thread(&ctx),
            2 => cases::two_threads(&ctx),
            3 => cases::handoff_latency(&ctx),
            4 => cases::refusal(&ctx),
            5 => cases::scaling(&ctx),
            6 => cases::memory(&ctx),
            8 => remote::cross_process_pair(&ctx),
            _ => remote::many_connectors(&ctx),
        };
        report::print_case(&case);
        println!("  ({:.1} s)", t.elapsed().as_secs_f64());
        done.push(case);
    }
    let targets = cases::targets(&ctx, &done);
    report::print_targets(&targets);
    drop(ctx);
    drop(capi);

    let dir = out_dir();
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let settings = format!(
        "{{\"runs\": {}, \"run_ms\": {}, \"machine\": \"{}\"}}",
        args.settings.runs,
        args.settings.run_time.as_millis(),
        machine.replace(['"', '\\'], "")
    );
    let json_path = dir.join("results.json");
    std::fs::write(&json_path, report::json(&settings, &done, &targets)).expect("write results.json");
    println!("\nwrote {}", json_path.display());
    if let Some(scaling) = done.iter().find(|c| c.id == 5) {
        let points = |set: &[(&'static str, &'static str)]| {
            set.iter().filter_map(|(row, label)| scaling.row(row).map(|r| (*label, r))).collect()
        };
        let (q, o) = (cases::QUEUED, cases::OPEN);
        let panels = [
            Panel {
                title: "requests queued on another listener",
                axis: "requests queued",
                points: points(&[(q[0].1, "0"), (q[1].1, "1k"), (q[2].1, "100k")]),
            },
            Panel {
                title: "sockets open in the provider",
                axis: "sockets open (100k*: control, no target)",
                points: points(&[(o[0].1, "10"), (o[1].1, "10k"), (cases::OPEN_CONTROL.1, "100k*"), (o[2].1, "1M")]),
            },
        ];
        let svg = report::scaling_svg(&panels, 1.3);
        let svg_path = dir.join("scaling.svg");
        std::fs::write(&svg_path, &svg).expect("write scaling.svg");
        let docs = workspace().join("docs");
        std::fs::create_dir_all(&docs).expect("create docs/");
        std::fs::write(docs.join("bench-scaling.svg"), &svg).expect("write docs/bench-scaling.svg");
        println!("wrote {} (and docs/bench-scaling.svg)", svg_path.display());
    }
    println!("total {:.1} s", started.elapsed().as_secs_f64());
}
