//! Writes a synthetic VPC flow-log S3 archive for the `start-doctor flows`
//! benchmark (`benches/flows.sh`), beside the seed story's configuration.
//!
//! Usage: `cargo run --release -p start-doctor-flows --example make_flows -- OUT_DIR [TOTAL_MB_GZIP] [FILES]`
//!
//! `OUT_DIR/config/` gets the seed story's `describe-*` output;
//! `OUT_DIR/AWSLogs/111122223333/vpcflowlogs/eu-west-1/2026/11/20/` gets
//! FILES gzip files of about TOTAL_MB_GZIP megabytes in all, each starting
//! with its header line, in three formats taken in turn: the default
//! (version 2), the seed story's version 4 with `pkt-*` fields, and a
//! version 5 format in another field order. The traffic is a day of a VPC:
//! applications talking to databases and caches (both interfaces log both
//! directions), on-premises clients over the Transit Gateway (a third
//! dropped in AZ c, the seed story's cause), scans of closed ports from the
//! internet, late FIN/RST after close, NODATA/SKIPDATA records; about 89%
//! of the records are ACCEPT. Deterministic (a fixed seed per file); files
//! are written in parallel and compressed at gzip level 6.

use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use flate2::write::GzEncoder;
use flate2::Compression;

const ACCOUNT: &str = "111122223333";
const VPC: &str = "vpc-0a1b2c3d4e5f6a001";
const T0: u64 = 1_795_132_800; // 2026-11-20T00:00:00Z
const V2: &[&str] = &[
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];
const V4_EXTRA: &[&str] = &[
    "vpc-id",
    "subnet-id",
    "instance-id",
    "tcp-flags",
    "type",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "az-id",
];
const V5: &[&str] = &[
    "version",
    "interface-id",
    "account-id",
    "vpc-id",
    "subnet-id",
    "instance-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "tcp-flags",
    "type",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "action",
    "log-status",
    "packets",
    "bytes",
    "start",
    "end",
    "flow-direction",
    "traffic-path",
    "az-id",
];
const SUBNET_A: &str = "subnet-0a1b2c3d4e5f6d0a1";
const SUBNET_C: &str = "subnet-0a1b2c3d4e5f6e0c3";

/// A small, fast, deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One record's values; `None` is `-`.
#[derive(Default)]
struct Rec<'a> {
    interface: String,
    src: String,
    dst: String,
    sport: Option<u32>,
    dport: Option<u32>,
    protocol: Option<u32>,
    packets: Option<u64>,
    bytes: Option<u64>,
    start: u64,
    action: Option<&'a str>,
    status: &'a str,
    subnet: Option<&'a str>,
    instance: Option<String>,
    flags: Option<u32>,
    pkt_src: Option<String>,
    pkt_dst: Option<String>,
    az: Option<&'a str>,
}

fn field(out: &mut String, rec: &Rec<'_>, name: &str, version: u32) {
    let dash = "-";
    let _ = match name {
        "version" => write!(out, "{version}"),
        "account-id" => write!(out, "{ACCOUNT}"),
        "interface-id" => write!(out, "{}", rec.interface),
        "srcaddr" => write!(out, "{}", if rec.src.is_empty() { dash } else { &rec.src }),
        "dstaddr" => write!(out, "{}", if rec.dst.is_empty() { dash } else { &rec.dst }),
        "srcport" => opt(out, rec.sport),
        "dstport" => opt(out, rec.dport),
        "protocol" => opt(out, rec.protocol),
        "packets" => opt(out, rec.packets),
        "bytes" => opt(out, rec.bytes),
        "start" => write!(out, "{}", rec.start),
        "end" => write!(out, "{}", rec.start + 59),
        "action" => write!(out, "{}", rec.action.unwrap_or(dash)),
        "log-status" => write!(out, "{}", rec.status),
        "vpc-id" => write!(out, "{VPC}"),
        "subnet-id" => write!(out, "{}", rec.subnet.unwrap_or(dash)),
        "instance-id" => write!(out, "{}", rec.instance.as_deref().unwrap_or(dash)),
        "tcp-flags" => opt(out, rec.flags),
        "type" => write!(out, "{}", if rec.src.is_empty() { dash } else { "IPv4" }),
        "pkt-srcaddr" => write!(out, "{}", rec.pkt_src.as_deref().unwrap_or(dash)),
        "pkt-dstaddr" => write!(out, "{}", rec.pkt_dst.as_deref().unwrap_or(dash)),
        "az-id" => write!(out, "{}", rec.az.unwrap_or(dash)),
        "flow-direction" => write!(out, "ingress"),
        _ => write!(out, "-"),
    };
}

fn opt<T: std::fmt::Display>(out: &mut String, v: Option<T>) -> std::fmt::Result {
    match v {
        Some(v) => write!(out, "{v}"),
        None => write!(out, "-"),
    }
}

/// Five minutes of traffic from `start`, as records.
fn traffic(rng: &mut Rng, start: u64, out: &mut Vec<Rec<'static>>) {
    const HOSTS: u64 = 400;
    for _ in 0..4000 {
        let t = start + rng.below(300);
        let kind = rng.unit();
        if kind < 0.80 {
            let a = rng.below(HOSTS);
            let b = rng.below(40);
            let client = format!("10.1.{}.{}", 2 + a / 200, a % 200 + 10);
            let server = format!("10.1.1.{}", b + 30);
            let port = [5432, 6379, 3306, 443, 8080][rng.below(5) as usize];
            let cport = 32768 + rng.below(28232) as u32;
            let (subnet, az) = if a % 2 == 0 {
                (SUBNET_A, "euw1-az1")
            } else {
                (SUBNET_C, "euw1-az3")
            };
            for (eni, subnet, az) in [
                (format!("eni-0a1b2c3d4e5f6{a:04x}"), subnet, az),
                (format!("eni-0a1b2c3d4e5f6d{b:03x}"), SUBNET_A, "euw1-az1"),
            ] {
                for (src, dst, sp, dp, flags) in [
                    (&client, &server, cport, port, 3),
                    (&server, &client, port, cport, 19),
                ] {
                    out.push(Rec {
                        interface: eni.clone(),
                        src: src.clone(),
                        dst: dst.clone(),
                        sport: Some(sp),
                        dport: Some(dp),
                        protocol: Some(6),
                        packets: Some(2 + rng.below(88)),
                        bytes: Some(200 + rng.below(90000)),
                        start: t,
                        action: Some("ACCEPT"),
                        status: "OK",
                        subnet: Some(subnet),
                        instance: Some(format!("i-0a1b2c3d4e5f6{a:04x}")),
                        flags: Some(flags),
                        pkt_src: Some(src.clone()),
                        pkt_dst: Some(dst.clone()),
                        az: Some(az),
                    });
                }
            }
        } else if kind < 0.90 {
            let c = rng.below(300);
            let client = format!("10.20.{}.{}", c / 200, c % 200 + 1);
            let cport = 32768 + rng.below(28232) as u32;
            let ok = rng.unit() >= 0.33;
            let (eni, ip, subnet, az) = if ok {
                (
                    "eni-0a1b2c3d4e5f6a0a1",
                    "10.1.0.10",
                    "subnet-0a1b2c3d4e5f6a0a1",
                    "euw1-az1",
                )
            } else {
                (
                    "eni-0a1b2c3d4e5f6a0c3",
                    "10.1.0.40",
                    "subnet-0a1b2c3d4e5f6a0c3",
                    "euw1-az3",
                )
            };
            out.push(Rec {
                interface: eni.to_owned(),
                src: ip.to_owned(),
                dst: "10.1.1.25".to_owned(),
                sport: Some(cport),
                dport: Some(5432),
                protocol: Some(6),
                packets: Some(if ok { 12 } else { 3 }),
                bytes: Some(if ok { 1840 } else { 180 }),
                start: t,
                action: Some(if ok { "ACCEPT" } else { "REJECT" }),
                status: "OK",
                subnet: Some(subnet),
                instance: None,
                flags: Some(if ok { 3 } else { 2 }),
                pkt_src: Some(client.clone()),
                pkt_dst: Some("10.1.1.25".to_owned()),
                az: Some(az),
            });
            if ok {
                out.push(Rec {
                    interface: "eni-0a1b2c3d4e5f6db01".to_owned(),
                    src: client.clone(),
                    dst: "10.1.1.25".to_owned(),
                    sport: Some(cport),
                    dport: Some(5432),
                    protocol: Some(6),
                    packets: Some(12),
                    bytes: Some(1840),
                    start: t,
                    action: Some("ACCEPT"),
                    status: "OK",
                    subnet: Some(SUBNET_A),
                    instance: Some("i-0a1b2c3d4e5f6db01".to_owned()),
                    flags: Some(3),
                    pkt_src: Some(client),
                    pkt_dst: Some("10.1.1.25".to_owned()),
                    az: Some("euw1-az1"),
                });
            }
        } else if kind < 0.96 {
            let scanner = format!("198.51.100.{}", 1 + rng.below(254));
            out.push(Rec {
                interface: "eni-0a1b2c3d4e5f6db01".to_owned(),
                src: scanner.clone(),
                dst: "10.1.1.25".to_owned(),
                sport: Some(1024 + rng.below(64000) as u32),
                dport: Some([22, 23, 445, 1433, 3389, 8443][rng.below(6) as usize]),
                protocol: Some(6),
                packets: Some(1),
                bytes: Some(44),
                start: t,
                action: Some("REJECT"),
                status: "OK",
                subnet: Some(SUBNET_A),
                instance: Some("i-0a1b2c3d4e5f6db01".to_owned()),
                flags: Some(2),
                pkt_src: Some(scanner),
                pkt_dst: Some("10.1.1.25".to_owned()),
                az: Some("euw1-az1"),
            });
        } else if kind < 0.98 {
            let a = rng.below(HOSTS);
            let client = format!("10.1.{}.{}", 2 + a / 200, a % 200 + 10);
            out.push(Rec {
                interface: format!("eni-0a1b2c3d4e5f6{a:04x}"),
                src: "10.1.1.30".to_owned(),
                dst: client.clone(),
                sport: Some(5432),
                dport: Some(32768 + rng.below(28232) as u32),
                protocol: Some(6),
                packets: Some(1),
                bytes: Some(40),
                start: t,
                action: Some("REJECT"),
                status: "OK",
                subnet: Some(if a % 2 == 0 { SUBNET_A } else { SUBNET_C }),
                instance: None,
                flags: Some([1, 4, 5][rng.below(3) as usize]),
                pkt_src: Some("10.1.1.30".to_owned()),
                pkt_dst: Some(client),
                az: Some("euw1-az1"),
            });
        } else {
            out.push(Rec {
                interface: format!("eni-0a1b2c3d4e5f6{:04x}", rng.below(HOSTS)),
                start: t,
                status: if rng.below(2) == 0 {
                    "NODATA"
                } else {
                    "SKIPDATA"
                },
                ..Rec::default()
            });
        }
    }
}

fn write_file(folder: &Path, index: usize, target: u64) -> std::io::Result<u64> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((index as u64 + 1) * 0x2545_F491));
    let v4: Vec<&str> = V2.iter().chain(V4_EXTRA).copied().collect();
    let (version, fields): (u32, &[&str]) = match index % 3 {
        0 => (2, V2),
        1 => (4, &v4),
        _ => (5, V5),
    };
    let minute = (index as u64 * 5) % 1440;
    let path: PathBuf = folder.join(format!(
        "{ACCOUNT}_vpcflowlogs_eu-west-1_fl-0a1b2c3d4e5f6a00{version}_20261120T{:02}{:02}Z_{index:08x}.log.gz",
        minute / 60,
        minute % 60
    ));
    let file = fs::File::create(&path)?;
    let mut gz = GzEncoder::new(std::io::BufWriter::new(file), Compression::new(6));
    gz.write_all(fields.join(" ").as_bytes())?;
    gz.write_all(b"\n")?;
    let mut text = String::with_capacity(1 << 20);
    let mut recs = Vec::with_capacity(8000);
    let mut chunk = 0;
    loop {
        recs.clear();
        traffic(&mut rng, T0 + minute * 60 + chunk * 7, &mut recs);
        text.clear();
        for r in &recs {
            for (i, name) in fields.iter().enumerate() {
                if i > 0 {
                    text.push(' ');
                }
                field(&mut text, r, name, version);
            }
            text.push('\n');
        }
        gz.write_all(text.as_bytes())?;
        chunk += 1;
        if gz.get_ref().get_ref().metadata()?.len() >= target {
            break;
        }
    }
    gz.finish()?.flush()?;
    Ok(fs::metadata(&path)?.len())
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(out) = args.get(1).map(PathBuf::from) else {
        eprintln!("usage: make_flows OUT_DIR [TOTAL_MB_GZIP] [FILES]");
        std::process::exit(2);
    };
    let total_mb: f64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2048.0);
    let files: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(256);
    let folder = out
        .join("AWSLogs")
        .join(ACCOUNT)
        .join("vpcflowlogs")
        .join("eu-west-1")
        .join("2026/11/20");
    fs::create_dir_all(&folder)?;
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/flows/seed-story/config");
    fs::create_dir_all(out.join("config"))?;
    for entry in fs::read_dir(&config)? {
        let entry = entry?;
        fs::copy(entry.path(), out.join("config").join(entry.file_name()))?;
    }
    let target = (total_mb * 1024.0 * 1024.0 / files as f64) as u64;
    let next = AtomicUsize::new(0);
    let written = std::sync::Mutex::new(0u64);
    std::thread::scope(|s| {
        for _ in 0..std::thread::available_parallelism().map_or(2, |n| n.get()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= files {
                    break;
                }
                match write_file(&folder, i, target) {
                    Ok(n) => {
                        if let Ok(mut w) = written.lock() {
                            *w += n;
                        }
                    }
                    Err(e) => eprintln!("file {i}: {e}"),
                }
            });
        }
    });
    let total = written.lock().map(|w| *w).unwrap_or(0);
    eprintln!("{files} files, {:.0} MB gzip", total as f64 / 1_048_576.0);
    Ok(())
}
