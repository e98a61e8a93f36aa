//! A public listener that can go down and come back up on the same port.
//!
//! Every emulator serves its HTTP API from a [`crate::httpd::Server`] bound to an ephemeral
//! loopback port (the backend). The public address is a plain TCP relay in front of it, so that
//! "going down" is exact: the listening socket is closed (new connections are refused) *and*
//! every open connection, including idle keep-alive connections a client has pooled, is shut
//! down at once. Stopping the HTTP server itself cannot do the latter: requests arriving on a
//! pooled connection would wait forever for a worker that is gone. Coming back up binds the same
//! address again.
//!
//! Shared by every emulator.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};

use crate::httpd::{Handler, Server};

/// An HTTP service: the backend server plus its public relay.
pub(crate) struct Service {
    front: Frontend,
    // Dropped after `front` (fields drop in declaration order), so the relay never points at a
    // server that is already gone.
    _backend: Server,
}

impl Service {
    /// Serve `handler` on `listen` (`host:port`, port 0 picks one) with `workers` HTTP workers.
    pub(crate) fn start(
        name: &str,
        listen: &str,
        workers: usize,
        max_body: usize,
        handler: Arc<Handler>,
    ) -> Result<Self> {
        let backend = Server::start("127.0.0.1:0", workers, max_body, handler)
            .with_context(|| format!("{name}: cannot start the HTTP server"))?;
        let front = Frontend::start(name, listen, backend.local_addr())?;
        Ok(Self {
            front,
            _backend: backend,
        })
    }

    /// The public address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.front.addr
    }

    /// `http://<public address>`; an unspecified listen address is shown as loopback.
    pub(crate) fn url(&self) -> String {
        let mut addr = self.front.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(loopback_of(&addr));
        }
        format!("http://{addr}")
    }

    /// Go down (`true`: refuse connections, cut the open ones) or come back up (`false`).
    pub(crate) fn set_down(&self, down: bool) -> Result<()> {
        if down {
            self.front.stop();
            Ok(())
        } else {
            self.front.resume()
        }
    }

    pub(crate) fn is_down(&self) -> bool {
        !self.front.lock().up
    }
}

fn loopback_of(addr: &SocketAddr) -> std::net::IpAddr {
    if addr.is_ipv4() {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        std::net::Ipv6Addr::LOCALHOST.into()
    }
}

struct Frontend {
    name: String,
    addr: SocketAddr,
    backend: SocketAddr,
    shared: Arc<Mutex<Relay>>,
    acceptor: Mutex<Option<Acceptor>>,
}

struct Acceptor {
    listener: TcpListener,
    thread: JoinHandle<()>,
}

/// The open connections, under one lock with the generation they belong to. Every stop bumps
/// the generation, so a connection accepted just before a stop can never register afterwards.
struct Relay {
    up: bool,
    generation: u64,
    next_id: u64,
    conns: HashMap<u64, (TcpStream, TcpStream)>,
}

impl Frontend {
    fn start(name: &str, listen: &str, backend: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind(listen)
            .with_context(|| format!("{name}: cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let me = Self {
            name: name.to_string(),
            addr,
            backend,
            shared: Arc::new(Mutex::new(Relay {
                up: false,
                generation: 0,
                next_id: 0,
                conns: HashMap::new(),
            })),
            acceptor: Mutex::new(None),
        };
        me.spawn(listener)?;
        Ok(me)
    }

    fn lock(&self) -> MutexGuard<'_, Relay> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn spawn(&self, listener: TcpListener) -> Result<()> {
        let generation = {
            let mut relay = self.lock();
            relay.up = true;
            relay.generation += 1;
            relay.generation
        };
        let accept_on = listener
            .try_clone()
            .context("cannot clone the listening socket")?;
        let shared = Arc::clone(&self.shared);
        let backend = self.backend;
        let thread = std::thread::Builder::new()
            .name(format!("{}-accept", self.name))
            .spawn(move || accept_loop(&accept_on, &shared, backend, generation))
            .context("cannot start the accept thread")?;
        *self.acceptor.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Acceptor { listener, thread });
        Ok(())
    }

    fn stop(&self) {
        let acceptor = self
            .acceptor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let conns = {
            let mut relay = self.lock();
            relay.up = false;
            relay.generation += 1;
            std::mem::take(&mut relay.conns)
        };
        for (client, backend) in conns.into_values() {
            let _ = client.shutdown(Shutdown::Both);
            let _ = backend.shutdown(Shutdown::Both);
        }
        if let Some(acceptor) = acceptor {
            // SAFETY: `shutdown(2)` on a descriptor we own and keep open for the duration of the
            // call; it only changes the socket's state. On Linux it makes a blocked `accept` in
            // the acceptor thread return at once (EINVAL), so the thread can be joined.
            unsafe {
                libc::shutdown(acceptor.listener.as_raw_fd(), libc::SHUT_RDWR);
            }
            let _ = acceptor.thread.join();
            // Both descriptors (ours and the thread's clone) are closed now: the port is free.
        }
    }

    fn resume(&self) -> Result<()> {
        if self.lock().up {
            return Ok(());
        }
        // The old socket is closed, but give the kernel a moment if it still holds the port.
        let deadline = Instant::now() + Duration::from_secs(3);
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(l) => break l,
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    return Err(anyhow!(
                        "{}: cannot listen on {} again: {e}",
                        self.name,
                        self.addr
                    ));
                }
            }
        };
        self.spawn(listener)
    }
}

impl Drop for Frontend {
    fn drop(&mut self) {
        self.stop();
    }
}

fn current(shared: &Mutex<Relay>, generation: u64) -> bool {
    let relay = shared.lock().unwrap_or_else(|p| p.into_inner());
    relay.up && relay.generation == generation
}

fn accept_loop(
    listener: &TcpListener,
    shared: &Arc<Mutex<Relay>>,
    backend: SocketAddr,
    generation: u64,
) {
    loop {
        let accepted = listener.accept();
        if !current(shared, generation) {
            return;
        }
        match accepted {
            Ok((client, _)) => {
                let shared = Arc::clone(shared);
                let spawned = std::thread::Builder::new()
                    .name("sim-relay".into())
                    .spawn(move || relay(client, backend, &shared, generation));
                if let Err(e) = spawned {
                    log::warn!("sim: cannot start a relay thread: {e}");
                }
            }
            Err(e) => {
                // EMFILE and friends: do not spin.
                log::warn!("sim: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Copy bytes both ways between a client and the backend until either side closes, or until the
/// frontend goes down and shuts both sockets.
fn relay(client: TcpStream, backend_addr: SocketAddr, shared: &Mutex<Relay>, generation: u64) {
    let Ok(backend) = TcpStream::connect(backend_addr) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = backend.set_nodelay(true);
    let (Ok(client_w), Ok(backend_r)) = (client.try_clone(), backend.try_clone()) else {
        return;
    };
    let id = {
        let mut relay = shared.lock().unwrap_or_else(|p| p.into_inner());
        if !(relay.up && relay.generation == generation) {
            return;
        }
        let (Ok(c), Ok(b)) = (client.try_clone(), backend.try_clone()) else {
            return;
        };
        relay.next_id += 1;
        let id = relay.next_id;
        relay.conns.insert(id, (c, b));
        id
    };
    let back = std::thread::Builder::new()
        .name("sim-relay-back".into())
        .spawn(move || {
            pump_quickack(&backend_r, &client_w);
            let _ = client_w.shutdown(Shutdown::Write);
        });
    let (mut from, mut to) = (&client, &backend);
    let _ = io::copy(&mut from, &mut to);
    let _ = backend.shutdown(Shutdown::Write);
    if let Ok(t) = back {
        let _ = t.join();
    }
    let _ = client.shutdown(Shutdown::Both);
    shared
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .conns
        .remove(&id);
}

/// Copy `from` → `to`, acknowledging every segment from `from` at once.
///
/// The HTTP server writes a response through a 1 KiB buffer on a socket with Nagle's algorithm
/// on, so a response larger than that leaves in two writes and the second waits for the ACK of
/// the first. A receiver with delayed ACKs makes that a 40 ms stall per response. Quick-ACK
/// mode on the relay's receiving socket (re-armed before every read, as Linux clears it) removes
/// the stall; the relay's own sockets have TCP_NODELAY.
fn pump_quickack(from: &TcpStream, to: &TcpStream) {
    use std::io::{Read, Write};
    let mut buf = vec![0u8; 64 * 1024];
    let (mut from, mut to) = (from, to);
    loop {
        set_quickack(from);
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

fn set_quickack(sock: &TcpStream) {
    let one: libc::c_int = 1;
    // SAFETY: `setsockopt(2)` on a socket descriptor we hold open, with a pointer to a live
    // `c_int` and its exact size; failure is harmless (we only lose the optimisation).
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}
