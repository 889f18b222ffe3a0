//! The admin listener (`[admin] listen`): one thread, one request per
//! connection, for operators and scrapers, never on a worker. What a
//! request means and every answer come from `weir_core::admin`; this file
//! only moves bytes and gathers the numbers (a scrape asks every worker).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use weir_core::admin::{self, Endpoint, Reply, ServerRef};

use crate::reload::{Plans, Reloader};
use crate::Shutdown;

/// How long a worker has to answer a scrape.
const SCRAPE_LIMIT: Duration = Duration::from_secs(1);

/// How long a client has to send its request.
const READ_LIMIT: Duration = Duration::from_secs(2);

/// Binds the admin listener of `plans`' config, if any, and serves it on
/// its own thread. An address that cannot be bound is an error at start.
pub fn start(
    name: &'static str,
    plans: &Plans,
    reloader: Option<Reloader>,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let Some(cfg) = plans.current().config.admin.clone() else {
        return Ok(());
    };
    let listener = TcpListener::bind(cfg.listen).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("admin.listen: cannot listen on {}: {e}", cfg.listen),
        )
    })?;
    eprintln!("{name}: admin listening on {}", listener.local_addr()?);
    let plans = plans.clone();
    std::thread::Builder::new()
        .name("weir-admin".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let ctx = Ctx {
                    plans: &plans,
                    reloader: reloader.as_ref(),
                    shutdown: &shutdown,
                    token: cfg.token.as_deref(),
                };
                serve_one(stream, &ctx);
            }
        })?;
    Ok(())
}

struct Ctx<'a> {
    plans: &'a Plans,
    reloader: Option<&'a Reloader>,
    shutdown: &'a Shutdown,
    token: Option<&'a str>,
}

fn serve_one(mut stream: TcpStream, ctx: &Ctx<'_>) {
    let _ = stream.set_read_timeout(Some(READ_LIMIT));
    let _ = stream.set_write_timeout(Some(READ_LIMIT));
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let reply = loop {
        match admin::request(&buf, ctx.token) {
            Ok(Some(endpoint)) => break answer(endpoint, ctx),
            Err(reply) => break reply,
            Ok(None) => {}
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let _ = stream.write_all(&reply.to_bytes());
}

fn answer(endpoint: Endpoint, ctx: &Ctx<'_>) -> Reply {
    match endpoint {
        Endpoint::Page => admin::page(),
        Endpoint::Healthz => Reply::text(200, "ok\n"),
        Endpoint::Ready if ctx.shutdown.is_fired() => Reply::text(503, "shutting down\n"),
        Endpoint::Ready => Reply::text(200, "ready\n"),
        Endpoint::Metrics(format) => admin::metrics(
            &ctx.plans.scrape(SCRAPE_LIMIT),
            &ctx.plans.process(),
            format,
        ),
        Endpoint::Status => admin::status(
            &ctx.plans.scrape(SCRAPE_LIMIT),
            &ctx.plans.process(),
            &ctx.plans.current(),
        ),
        Endpoint::Drain(s) => drain(ctx, &s, true),
        Endpoint::Enable(s) => drain(ctx, &s, false),
        Endpoint::Dump if !crate::recorder::on() => {
            Reply::text(409, "no [recorder] configured, nothing to dump\n")
        }
        Endpoint::Dump => match crate::recorder::dump() {
            Ok((dir, n)) => Reply::text(
                200,
                format!("{n} recorded connections dumped to {}\n", dir.display()),
            ),
            Err(e) => Reply::text(500, format!("cannot dump the flight recorder: {e}\n")),
        },
        Endpoint::Reload => match ctx.reloader {
            None => Reply::text(409, "no config file to reload (quick mode)\n"),
            Some(r) => match r.reload() {
                Ok(line) => Reply::text(200, format!("{line}\n")),
                Err(lines) => Reply::text(422, lines.join("\n") + "\n"),
            },
        },
    }
}

/// Drains (`on`) or enables a server of the plan in force, in every worker.
fn drain(ctx: &Ctx<'_>, s: &ServerRef, on: bool) -> Reply {
    if let Err(reply) = s.check(&ctx.plans.current()) {
        return reply;
    }
    ctx.plans.set_drained(&s.upstream, s.server, on);
    let said = if on {
        format!(
            "drained {} in {}: no new requests; those in flight finish\n",
            s.server, s.upstream
        )
    } else {
        format!("enabled {} in {}\n", s.server, s.upstream)
    };
    Reply::text(200, said)
}
