//! A minimal RFC 6455 client: the HTTP/1.1 upgrade by hand, masked client frames, server frames
//! parsed from a growable buffer. No extensions are offered, so RSV bits must stay clear.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::sha1::{base64, sha1};

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const MAX_HANDSHAKE: usize = 16 * 1024;
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// A complete data message, or the peer's close frame.
pub enum Message {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Close(Option<u16>),
}

/// xorshift64*: mask keys and handshake nonces. Not cryptographic; a load tool does not need it.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Rng((seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ nanos) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Counters shared by every connection of a run (pings answered, unexpected frames).
#[derive(Default)]
pub struct Stats {
    pub pings: AtomicU64,
}

pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    out: Vec<u8>,
    rng: Rng,
    stats: Arc<Stats>,
}

struct Header {
    fin: bool,
    opcode: u8,
    len: usize,
    header_len: usize,
    mask: Option<[u8; 4]>,
}

fn parse_header(b: &[u8]) -> Result<Option<Header>, String> {
    if b.len() < 2 {
        return Ok(None);
    }
    if b[0] & 0x70 != 0 {
        return Err(format!("server frame with RSV bits set (byte 0 = {:#04x})", b[0]));
    }
    let masked = b[1] & 0x80 != 0;
    let (len, mut header_len) = match b[1] & 0x7F {
        126 => {
            if b.len() < 4 {
                return Ok(None);
            }
            (u64::from(u16::from_be_bytes([b[2], b[3]])), 4)
        }
        127 => {
            if b.len() < 10 {
                return Ok(None);
            }
            let mut n = [0u8; 8];
            n.copy_from_slice(&b[2..10]);
            (u64::from_be_bytes(n), 10)
        }
        n => (u64::from(n), 2),
    };
    if len > MAX_MESSAGE as u64 {
        return Err(format!("server frame of {len} bytes"));
    }
    let mask = if masked {
        if b.len() < header_len + 4 {
            return Ok(None);
        }
        let m = [b[header_len], b[header_len + 1], b[header_len + 2], b[header_len + 3]];
        header_len += 4;
        Some(m)
    } else {
        None
    };
    Ok(Some(Header {
        fin: b[0] & 0x80 != 0,
        opcode: b[0] & 0x0F,
        len: len as usize,
        header_len,
        mask,
    }))
}

impl Conn {
    /// TCP connect plus the opening handshake; fails unless the server answers `101` with the
    /// right `Sec-WebSocket-Accept` and no extension we did not offer.
    pub async fn connect(addr: SocketAddr, path: &str, seed: u64, stats: Arc<Stats>) -> Result<Conn, String> {
        let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        stream.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
        let mut rng = Rng::new(seed);
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&rng.next().to_le_bytes());
        nonce[8..].copy_from_slice(&rng.next().to_le_bytes());
        let key = base64(&nonce);
        let mut conn = Conn {
            stream,
            buf: Vec::with_capacity(4096),
            start: 0,
            out: Vec::with_capacity(256),
            rng,
            stats,
        };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        conn.stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("handshake write: {e}"))?;

        let end = loop {
            if let Some(i) = conn.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if conn.buf.len() > MAX_HANDSHAKE {
                return Err("handshake: response head too large".into());
            }
            if conn.fill().await.map_err(|e| format!("handshake read: {e}"))? == 0 {
                return Err("handshake: connection closed before the response head".into());
            }
        };
        let head = String::from_utf8_lossy(&conn.buf[..end]).into_owned();
        conn.start = end;
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap_or("");
        if status.split_whitespace().nth(1) != Some("101") {
            return Err(format!("handshake: expected 101, got {status:?}"));
        }
        let expected = base64(&sha1(format!("{key}{GUID}").as_bytes()));
        let mut accept_ok = false;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            match name.as_str() {
                "sec-websocket-accept" => accept_ok = value == expected,
                "sec-websocket-extensions" => return Err(format!("handshake: unrequested extension {value:?}")),
                _ => {}
            }
        }
        if !accept_ok {
            return Err("handshake: missing or wrong Sec-WebSocket-Accept".into());
        }
        Ok(conn)
    }

    /// Read more bytes into the buffer; returns how many (0 = EOF).
    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + 8192, 0);
        let n = self.stream.read(&mut self.buf[old..]).await;
        self.buf.truncate(old + *n.as_ref().unwrap_or(&0));
        n
    }

    /// Send one masked frame with FIN set.
    pub async fn send(&mut self, opcode: u8, payload: &[u8]) -> Result<(), String> {
        self.out.clear();
        self.out.push(0x80 | opcode);
        match payload.len() {
            n if n < 126 => self.out.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                self.out.push(0x80 | 126);
                self.out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                self.out.push(0x80 | 127);
                self.out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = (self.rng.next() as u32).to_ne_bytes();
        self.out.extend_from_slice(&mask);
        self.out
            .extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        self.stream
            .write_all(&self.out)
            .await
            .map_err(|e| format!("write: {e}"))
    }

    /// The next data message or close frame. Pings are answered with pongs, pongs are dropped.
    pub async fn recv(&mut self) -> Result<Message, String> {
        let mut message: Option<(u8, Vec<u8>)> = None;
        loop {
            let header = match parse_header(&self.buf[self.start..])? {
                Some(h) if self.buf.len() - self.start >= h.header_len + h.len => h,
                _ => {
                    if self.fill().await.map_err(|e| format!("read: {e}"))? == 0 {
                        return Err("connection closed without a close frame".into());
                    }
                    continue;
                }
            };
            let body_at = self.start + header.header_len;
            let mut payload = self.buf[body_at..body_at + header.len].to_vec();
            self.start = body_at + header.len;
            if let Some(m) = header.mask {
                payload.iter_mut().enumerate().for_each(|(i, b)| *b ^= m[i & 3]);
            }
            match header.opcode {
                OP_PING => {
                    if !header.fin || payload.len() > 125 {
                        return Err("malformed ping".into());
                    }
                    self.stats.pings.fetch_add(1, Ordering::Relaxed);
                    self.send(OP_PONG, &payload).await?;
                }
                OP_PONG => {}
                OP_CLOSE => {
                    let code = (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                    return Ok(Message::Close(code));
                }
                OP_TEXT | OP_BINARY => {
                    if message.is_some() {
                        return Err("new data frame inside a fragmented message".into());
                    }
                    if header.fin {
                        return Ok(finish(header.opcode, payload));
                    }
                    message = Some((header.opcode, payload));
                }
                OP_CONT => {
                    let Some((opcode, mut data)) = message.take() else {
                        return Err("continuation frame without a message".into());
                    };
                    data.extend_from_slice(&payload);
                    if data.len() > MAX_MESSAGE {
                        return Err("message too large".into());
                    }
                    if header.fin {
                        return Ok(finish(opcode, data));
                    }
                    message = Some((opcode, data));
                }
                op => return Err(format!("unknown opcode {op:#x}")),
            }
        }
    }

    /// Client-initiated close handshake (1000); true if the server answered with a close frame.
    pub async fn close(&mut self) -> bool {
        if self.send(OP_CLOSE, &1000u16.to_be_bytes()).await.is_err() {
            return false;
        }
        loop {
            match self.recv().await {
                Ok(Message::Close(_)) => return true,
                Ok(_) => continue,
                Err(_) => return false,
            }
        }
    }
}

fn finish(opcode: u8, data: Vec<u8>) -> Message {
    if opcode == OP_TEXT {
        Message::Text(data)
    } else {
        Message::Binary(data)
    }
}
