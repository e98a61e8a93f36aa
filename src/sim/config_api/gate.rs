//! The emulator's listening socket: a small TCP front that forwards each connection to the
//! HTTP server (`crate::httpd`) on an internal port.
//!
//! It exists for the "go down" fault. `httpd` keeps keep-alive connections open and cannot drop
//! them, so stopping it would leave a client's pooled connection hanging forever. Going down
//! here closes the listener (new connections are refused) and shuts every open connection
//! (pooled ones fail at once, as when the real server process dies). Coming back binds the
//! same port again. The HTTP server behind keeps running throughout.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::{Context, Result};

type Conns = Arc<Mutex<HashMap<u64, TcpStream>>>;

struct Running {
    stop: Arc<AtomicBool>,
    accept: JoinHandle<()>,
}

pub struct Gate {
    addr: SocketAddr,
    backend: SocketAddr,
    running: Option<Running>,
    conns: Conns,
    next_id: Arc<AtomicU64>,
}

impl Gate {
    /// Listen on `listen` and forward to `backend`.
    pub fn start(listen: &str, backend: SocketAddr) -> Result<Self> {
        let listener =
            TcpListener::bind(listen).with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener
            .local_addr()
            .context("listener has no local address")?;
        let mut gate = Gate {
            addr,
            backend,
            running: None,
            conns: Arc::new(Mutex::new(HashMap::new())),
            next_id: Arc::new(AtomicU64::new(0)),
        };
        gate.run(listener)?;
        Ok(gate)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Listen again on the same address (no-op when up).
    pub fn up(&mut self) -> Result<()> {
        if self.running.is_some() {
            return Ok(());
        }
        let listener = TcpListener::bind(self.addr)
            .with_context(|| format!("cannot listen again on {}", self.addr))?;
        self.run(listener)
    }

    /// Stop listening and cut every open connection (no-op when down).
    pub fn down(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        running.stop.store(true, Ordering::SeqCst);
        // wake the accept loop so it sees the flag and drops the listener
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let _ = TcpStream::connect(wake);
        let _ = running.accept.join();
        // Every accepted connection was registered by the (now finished) accept loop.
        let conns: Vec<TcpStream> = self
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, c)| c)
            .collect();
        for client in conns {
            let _ = client.shutdown(Shutdown::Both);
        }
    }

    fn run(&mut self, listener: TcpListener) -> Result<()> {
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, conns, next_id, backend) = (
            Arc::clone(&stop),
            Arc::clone(&self.conns),
            Arc::clone(&self.next_id),
            self.backend,
        );
        let accept = std::thread::Builder::new()
            .name("cfgsim-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stop2.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = stream else { continue };
                    let id = next_id.fetch_add(1, Ordering::SeqCst);
                    match client.try_clone() {
                        Ok(c) => {
                            conns
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(id, c);
                        }
                        Err(_) => continue,
                    }
                    let conns = Arc::clone(&conns);
                    let _ = std::thread::Builder::new()
                        .name("cfgsim-conn".into())
                        .spawn(move || {
                            if let Err(e) = forward(client, backend) {
                                log::debug!("cfgsim: connection {id}: {e}");
                            }
                            conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                        });
                }
            })
            .context("cannot start the accept thread")?;
        self.running = Some(Running { stop, accept });
        Ok(())
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.down();
    }
}

/// Copy bytes both ways until either side closes.
fn forward(mut client: TcpStream, backend: SocketAddr) -> io::Result<()> {
    let mut server = TcpStream::connect(backend)?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (mut server_r, mut client_w) = (server.try_clone()?, client.try_clone()?);
    let back = std::thread::Builder::new()
        .name("cfgsim-conn-back".into())
        .spawn(move || {
            let _ = io::copy(&mut server_r, &mut client_w);
            let _ = client_w.shutdown(Shutdown::Both);
        })?;
    let _ = io::copy(&mut client, &mut server);
    let _ = server.shutdown(Shutdown::Write);
    let _ = back.join();
    let _ = server.shutdown(Shutdown::Both);
    Ok(())
}
