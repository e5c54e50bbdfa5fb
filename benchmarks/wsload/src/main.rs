//! wsload: a small WebSocket load generator for granian's benchmarks, loopback only.
//!
//! `wsload echo`: N connections, each sending one masked text message and awaiting its echo in a
//! loop; after a warm-up, counts the echoes of the measured window and their round-trip times.
//! `wsload idle`: opens N connections (one echo each to prove them up), prints a JSON line, then
//! holds them for `--hold` seconds, or (without it) until stdin closes, or until killed.
//!
//! Runs on one thread (tokio current-thread runtime): pin it to a CPU with `taskset`.

mod sha1;
mod ws;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::timeout;

use ws::{Conn, Message, Stats, OP_BINARY, OP_TEXT};

const USAGE: &str = "\
usage: wsload echo|idle [options]
  --host IP            loopback address of the server (default 127.0.0.1)
  --port N             server port (default 8765)
  --path P             request target of the upgrade (default /)
  -c, --connections N  connections (default: echo 64, idle 10000)
  -d, --duration S     echo: measured seconds (default 8)
  -w, --warmup S       echo: warm-up seconds before measuring (default 2)
  --size B             echo: message size in bytes (default 32)
  --binary             echo: send binary messages instead of text
  --timeout S          per-echo / per-handshake timeout (default 10)
  --concurrency N      idle: handshakes in flight at once (default 256)
  --hold S             idle: hold S seconds (default: until stdin closes)
Prints one JSON line per event on stdout.";

struct Opts {
    mode: String,
    addr: SocketAddr,
    path: String,
    connections: Option<usize>,
    duration: f64,
    warmup: f64,
    size: usize,
    binary: bool,
    timeout: f64,
    concurrency: usize,
    hold: Option<f64>,
}

fn parse_args() -> Result<Opts, String> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().ok_or("missing mode")?;
    if mode == "-h" || mode == "--help" {
        println!("{USAGE}");
        std::process::exit(0);
    }
    if mode != "echo" && mode != "idle" {
        return Err(format!("unknown mode {mode:?}"));
    }
    let mut host: IpAddr = Ipv4Addr::LOCALHOST.into();
    let mut port: u16 = 8765;
    let mut o = Opts {
        mode,
        addr: SocketAddr::new(host, port),
        path: "/".into(),
        connections: None,
        duration: 8.0,
        warmup: 2.0,
        size: 32,
        binary: false,
        timeout: 10.0,
        concurrency: 256,
        hold: None,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        fn num<T: std::str::FromStr>(flag: &str, v: String) -> Result<T, String> {
            v.parse().map_err(|_| format!("bad value for {flag}: {v:?}"))
        }
        match flag.as_str() {
            "--host" => {
                let v = value()?;
                host = if v == "localhost" {
                    Ipv4Addr::LOCALHOST.into()
                } else {
                    num(&flag, v)?
                };
            }
            "--port" => port = num(&flag, value()?)?,
            "--path" => o.path = value()?,
            "-c" | "--connections" => o.connections = Some(num(&flag, value()?)?),
            "-d" | "--duration" => o.duration = num(&flag, value()?)?,
            "-w" | "--warmup" => o.warmup = num(&flag, value()?)?,
            "--size" => o.size = num(&flag, value()?)?,
            "--binary" => o.binary = true,
            "--timeout" => o.timeout = num(&flag, value()?)?,
            "--concurrency" => o.concurrency = num(&flag, value()?)?,
            "--hold" => o.hold = Some(num(&flag, value()?)?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown option {flag:?}")),
        }
    }
    if !host.is_loopback() {
        return Err(format!(
            "{host} is not a loopback address: wsload only loads local servers"
        ));
    }
    if !o.path.starts_with('/') || o.path.contains(char::is_whitespace) {
        return Err(format!("bad --path {:?}", o.path));
    }
    let finite = |v: f64| v.is_finite() && v >= 0.0;
    if !finite(o.duration) || !finite(o.warmup) || !finite(o.timeout) || o.hold.is_some_and(|h| !finite(h)) {
        return Err("durations must be finite, non-negative seconds".into());
    }
    if o.duration == 0.0 || o.timeout == 0.0 || o.concurrency == 0 || o.connections == Some(0) {
        return Err("--duration, --timeout, --concurrency and --connections must be positive".into());
    }
    o.addr = SocketAddr::new(host, port);
    Ok(o)
}

/// Raise the soft open-files limit to the hard one; returns the resulting soft limit.
fn raise_nofile() -> libc::rlim_t {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a stack struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim = want;
            }
        }
    }
    lim.rlim_cur
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_opt(s: &Option<String>) -> String {
    s.as_deref().map_or_else(|| "null".into(), json_str)
}

/// Nearest-rank percentile of sorted nanosecond samples, in milliseconds.
fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1e6
}

struct EchoResult {
    rtts: Vec<u64>,
    error: Option<String>,
    clean_close: bool,
}

struct EchoPlan {
    size: usize,
    binary: bool,
    measure_from: Instant,
    until: Instant,
    limit: Duration,
}

async fn echo_loop(mut conn: Conn, id: usize, plan: Arc<EchoPlan>) -> EchoResult {
    let (measure_from, until, limit) = (plan.measure_from, plan.until, plan.limit);
    let size = plan.size;
    let opcode = if plan.binary { OP_BINARY } else { OP_TEXT };
    let mut rtts = Vec::with_capacity(1 << 14);
    let mut payload = vec![b'x'; size];
    let tag = format!("{id:06}:");
    let mut seq: u64 = 0;
    let error = loop {
        if Instant::now() >= until {
            break None;
        }
        // A distinct message every time (connection id + sequence number), so a stale or
        // misrouted echo is caught by the comparison below.
        seq += 1;
        let stamp = format!("{tag}{seq:012}");
        let n = stamp.len().min(size);
        payload[..n].copy_from_slice(&stamp.as_bytes()[..n]);
        let sent = Instant::now();
        if let Err(e) = conn.send(opcode, &payload).await {
            break Some(e);
        }
        match timeout(limit, conn.recv()).await {
            Err(_) => break Some(format!("no echo within {}s", limit.as_secs_f64())),
            Ok(Err(e)) => break Some(e),
            Ok(Ok(Message::Close(code))) => break Some(format!("server closed the connection (code {code:?})")),
            Ok(Ok(Message::Binary(data))) if plan.binary => {
                if data != payload {
                    break Some(format!(
                        "echo mismatch: sent {} bytes, got {} bytes",
                        payload.len(),
                        data.len()
                    ));
                }
            }
            Ok(Ok(Message::Text(data))) if !plan.binary => {
                if data != payload {
                    break Some(format!(
                        "echo mismatch: sent {} bytes, got {} bytes",
                        payload.len(),
                        data.len()
                    ));
                }
            }
            Ok(Ok(_)) => break Some("echo of the other message type (text vs binary)".into()),
        }
        let done = Instant::now();
        if sent >= measure_from && done <= until {
            rtts.push((done - sent).as_nanos() as u64);
        }
    };
    let clean_close = error.is_none() && matches!(timeout(limit, conn.close()).await, Ok(true));
    EchoResult {
        rtts,
        error: error.map(|e| format!("conn {id}: {e}")),
        clean_close,
    }
}

async fn run_echo(o: &Opts) -> i32 {
    let n = o.connections.unwrap_or(64);
    let limit = Duration::from_secs_f64(o.timeout);
    let stats = Arc::new(Stats::default());
    let mut set = tokio::task::JoinSet::new();
    for id in 0..n {
        let (addr, path, stats) = (o.addr, o.path.clone(), stats.clone());
        set.spawn(async move {
            match timeout(limit, Conn::connect(addr, &path, id as u64, stats)).await {
                Ok(r) => r.map(|c| (id, c)).map_err(|e| format!("conn {id}: {e}")),
                Err(_) => Err(format!("conn {id}: handshake timed out")),
            }
        });
    }
    let mut conns = Vec::with_capacity(n);
    let mut connect_errors = 0u64;
    let mut first_error: Option<String> = None;
    while let Some(r) = set.join_next().await {
        match r.expect("connect task panicked") {
            Ok(c) => conns.push(c),
            Err(e) => {
                connect_errors += 1;
                first_error.get_or_insert(e);
            }
        }
    }

    let measure_from = Instant::now() + Duration::from_secs_f64(o.warmup);
    let until = measure_from + Duration::from_secs_f64(o.duration);
    let plan = Arc::new(EchoPlan {
        size: o.size,
        binary: o.binary,
        measure_from,
        until,
        limit,
    });
    let mut set = tokio::task::JoinSet::new();
    for (id, conn) in conns {
        set.spawn(echo_loop(conn, id, plan.clone()));
    }
    let mut rtts: Vec<u64> = Vec::new();
    let (mut errors, mut clean_closes) = (connect_errors, 0u64);
    while let Some(r) = set.join_next().await {
        let r = r.expect("echo task panicked");
        rtts.extend_from_slice(&r.rtts);
        clean_closes += u64::from(r.clean_close);
        if let Some(e) = r.error {
            errors += 1;
            first_error.get_or_insert(e);
        }
    }
    rtts.sort_unstable();
    let mean_ms = if rtts.is_empty() {
        0.0
    } else {
        rtts.iter().sum::<u64>() as f64 / rtts.len() as f64 / 1e6
    };
    println!(
        "{{\"mode\":\"echo\",\"connections\":{n},\"duration_s\":{},\"warmup_s\":{},\"size\":{},\"binary\":{},\"messages\":{},\
         \"msgs_per_s\":{:.1},\"mean_ms\":{mean_ms:.4},\"p50_ms\":{:.4},\"p90_ms\":{:.4},\"p99_ms\":{:.4},\
         \"max_ms\":{:.4},\"errors\":{errors},\"connect_errors\":{connect_errors},\"clean_closes\":{clean_closes},\
         \"pings\":{},\"first_error\":{}}}",
        o.duration,
        o.warmup,
        o.size,
        o.binary,
        rtts.len(),
        rtts.len() as f64 / o.duration,
        percentile_ms(&rtts, 50.0),
        percentile_ms(&rtts, 90.0),
        percentile_ms(&rtts, 99.0),
        rtts.last().map_or(0.0, |&v| v as f64 / 1e6),
        stats.pings.load(Ordering::Relaxed),
        json_opt(&first_error),
    );
    i32::from(errors > 0)
}

enum Event {
    Up,
    Failed(String),
    Dropped(String),
}

async fn idle_conn(id: usize, o: Arc<Opts>, gate: Arc<Semaphore>, stats: Arc<Stats>, tx: mpsc::UnboundedSender<Event>) {
    let limit = Duration::from_secs_f64(o.timeout);
    let permit = gate.acquire_owned().await.expect("semaphore closed");
    let opened = timeout(limit, async {
        let mut conn = Conn::connect(o.addr, &o.path, id as u64, stats).await?;
        let hello = format!("idle {id:06}");
        conn.send(OP_TEXT, hello.as_bytes()).await?;
        match conn.recv().await? {
            Message::Text(d) if d == hello.as_bytes() => Ok(conn),
            Message::Close(code) => Err(format!("closed (code {code:?}) instead of echoing")),
            _ => Err("wrong echo".to_string()),
        }
    })
    .await
    .unwrap_or_else(|_| Err("handshake + first echo timed out".into()));
    drop(permit);
    let mut conn = match opened {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.send(Event::Failed(format!("conn {id}: {e}")));
            return;
        }
    };
    let _ = tx.send(Event::Up);
    // Idle from here on: only answer pings (inside recv) until the server drops us.
    let why = loop {
        match conn.recv().await {
            Ok(Message::Close(code)) => break format!("server closed (code {code:?})"),
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    let _ = tx.send(Event::Dropped(format!("conn {id}: {why}")));
}

async fn run_idle(o: Opts) -> i32 {
    let n = o.connections.unwrap_or(10_000);
    let nofile = raise_nofile();
    if nofile < (n + 16) as libc::rlim_t {
        eprintln!("wsload: warning: open-files limit {nofile} is below {n} connections");
    }
    let o = Arc::new(o);
    let gate = Arc::new(Semaphore::new(o.concurrency));
    let stats = Arc::new(Stats::default());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let started = Instant::now();
    for id in 0..n {
        tokio::spawn(idle_conn(id, o.clone(), gate.clone(), stats.clone(), tx.clone()));
    }
    drop(tx);
    let (mut up, mut failed, mut dropped) = (0usize, 0usize, 0usize);
    let mut first_error: Option<String> = None;
    let mut first_drop: Option<String> = None;
    while up + failed < n {
        match rx.recv().await {
            Some(Event::Up) => up += 1,
            Some(Event::Failed(e)) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
            Some(Event::Dropped(e)) => {
                dropped += 1;
                first_drop.get_or_insert(e);
            }
            None => break,
        }
    }
    println!(
        "{{\"mode\":\"idle\",\"event\":\"open\",\"connections\":{n},\"open\":{},\"errors\":{failed},\
         \"dropped\":{dropped},\"open_s\":{:.3},\"first_error\":{},\"first_drop\":{}}}",
        up - dropped,
        started.elapsed().as_secs_f64(),
        json_opt(&first_error),
        json_opt(&first_drop),
    );

    let held = Instant::now();
    // With --hold: exactly that long; without: until stdin reaches EOF (the driver closes it).
    let hold = async {
        match o.hold {
            Some(s) => tokio::time::sleep(Duration::from_secs_f64(s)).await,
            None => {
                let mut stdin = tokio::io::stdin();
                let mut buf = [0u8; 256];
                while matches!(stdin.read(&mut buf).await, Ok(k) if k > 0) {}
            }
        }
    };
    let drops = async {
        while let Some(ev) = rx.recv().await {
            if let Event::Dropped(e) = ev {
                dropped += 1;
                first_drop.get_or_insert(e);
            }
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = hold => {}
        _ = drops => {}
    }
    println!(
        "{{\"mode\":\"idle\",\"event\":\"done\",\"connections\":{n},\"open\":{},\"errors\":{failed},\
         \"dropped\":{dropped},\"held_s\":{:.3},\"pings\":{},\"first_drop\":{}}}",
        up - dropped,
        held.elapsed().as_secs_f64(),
        stats.pings.load(Ordering::Relaxed),
        json_opt(&first_drop),
    );
    i32::from(failed > 0 || dropped > 0)
}

fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("wsload: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(async {
        if opts.mode == "echo" {
            run_echo(&opts).await
        } else {
            run_idle(opts).await
        }
    });
    // Exit at once: idle connections and the stdin reader need no orderly shutdown.
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}
