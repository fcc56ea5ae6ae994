//! `msrpc`: the command-line tool for Microsoft RPC.

mod auth;
mod bench;
mod demo;
mod epm;
mod heap;
mod idl;
mod logging;
mod netlogon;
mod output;
mod perf;
mod tools;

use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

use msrpc::server::{Server, ServerConfig};
use msrpc::{Binding, BindingOptions, Win32Status, mgmt};
use msrpc_sample::AsyncRpcHandler;
use output::{Failure, known_interface_name, outln};

/// Microsoft RPC (MS-RPCE) from the command line.
///
/// Exit codes: 0 success; 1 the RPC call failed (the server answered with a fault or an error status);
/// 2 bad usage or arguments; 3 the server could not be reached.
#[derive(Parser, Debug)]
#[command(name = "msrpc", version, about, long_about = None, after_help = "\
Examples:
  msrpc demo
  msrpc serve --listen ncacn_ip_tcp:127.0.0.1[8765]
  msrpc ping ncacn_ip_tcp:127.0.0.1[8765]
  msrpc ifids --json ncacn_ip_tcp:127.0.0.1[135]
  msrpc serve --epm --listen ncacn_ip_tcp:127.0.0.1[0]
  msrpc epm ncacn_ip_tcp:127.0.0.1")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log at this level (error, warn, info, debug, trace) for msrpc, on stderr; `debug` prints
    /// one line per call with its status. Any tracing-subscriber `EnvFilter` directive is taken
    /// too. Without it: the `RUST_LOG` environment variable, else `MSRPC_LOG` (the older name),
    /// else `warn`.
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replay the page "Making the asynchronous call": a server and a client in one process over TCP.
    Demo {
        /// AsyncFunc's delay, in milliseconds (the sample's DEFAULT_ASYNC_DELAY is 10000).
        #[arg(long, default_value_t = 400)]
        delay: u32,
        /// Print the timeline as JSON lines ({"t_ms", "who", "what"}) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Serve the built-in mgmt interface and the AsyncRPC sample.
    #[command(after_help = "\
Examples:
  msrpc serve --listen ncacn_ip_tcp:127.0.0.1[8765]
  msrpc serve --listen ncacn_ip_tcp:127.0.0.1[0] --listen ncalrpc:[asyncrpc]
  msrpc serve --epm --listen ncacn_ip_tcp:127.0.0.1[0]
  msrpc serve --epm --epm-port 1350 --listen ncacn_ip_tcp:127.0.0.1[0]
  msrpc serve --register-with ncacn_ip_tcp:127.0.0.1[135] --listen ncacn_ip_tcp:127.0.0.1[0]
  msrpc serve --users users.txt --min-auth-level integrity --listen ncacn_ip_tcp:127.0.0.1[8765]
  msrpc serve --epm --netlogon --listen ncacn_ip_tcp:127.0.0.1[0]
  msrpc serve --netlogon --machines machines.txt --listen ncacn_ip_tcp:127.0.0.1[0]
  msrpc serve --keytab srv1.keytab --service-principal host/srv1.corp.example --listen ncacn_ip_tcp:0.0.0.0[8765]

Prints one line `listening on BINDING` per listener, with the real port, once it is ready.
With --epm the server also serves the endpoint mapper (on 127.0.0.1:135 unless --epm-port says
otherwise; the last `listening on` line) and registers AsyncRPC at its other listeners there, so
clients reach it as ncacn_ip_tcp:127.0.0.1 without a port. --register-with registers them with
another endpoint mapper on this host instead (ept_insert). Both unregister at shutdown.
Stops on Ctrl-C / SIGTERM, or when a client calls Shutdown or mgmt stop_server_listening and
--allow-remote-shutdown was given.")]
    Serve {
        /// A string binding to listen on; repeat for several. Port 0 picks a free port.
        #[arg(long = "listen", required = true, value_name = "BINDING")]
        listen: Vec<String>,
        /// Let clients stop the server (AsyncRPC Shutdown, mgmt stop_server_listening).
        #[arg(long)]
        allow_remote_shutdown: bool,
        /// Calls in progress in the whole server before new ones get server_too_busy.
        #[arg(long, default_value_t = 1234)]
        max_calls: usize,
        /// Connections open at once.
        #[arg(long, default_value_t = 1024)]
        max_connections: usize,
        /// Print each NonAsyncFunc message.
        #[arg(long)]
        verbose: bool,
        /// Print one JSON object per listener ({"listening": BINDING}) instead of `listening on BINDING`.
        #[arg(long)]
        json: bool,
        /// Serve the endpoint mapper too, and register the server's endpoints in it.
        #[arg(long)]
        epm: bool,
        /// The endpoint mapper's port with --epm.
        #[arg(long, default_value_t = 135, requires = "epm")]
        epm_port: u16,
        /// The endpoint mapper's IPv4 address with --epm (another loopback address such as
        /// 127.0.0.2 leaves 127.0.0.1:135 to another endpoint mapper).
        #[arg(long, default_value = "127.0.0.1", requires = "epm")]
        epm_address: std::net::Ipv4Addr,
        /// Register the server's endpoints with the endpoint mapper at this binding (ept_insert).
        #[arg(long, value_name = "BINDING", conflicts_with = "epm")]
        register_with: Option<String>,
        /// Accept NTLM logons of the accounts in FILE: one `USER:PASSWORD` or
        /// `DOMAIN\USER:PASSWORD` per line, `#` comments.
        #[arg(long, value_name = "FILE")]
        users: Option<std::path::PathBuf>,
        /// Accept Kerberos (auth type 16, every level) with the service keys in this keytab
        /// (`samba-tool domain exportkeytab`, `kadmin ktadd`, `ktutil`).
        #[arg(long, value_name = "FILE")]
        keytab: Option<std::path::PathBuf>,
        /// With --keytab: the principal to be, SERVICE/HOST (default: the keytab's first);
        /// tickets for the keytab's other principals are accepted too.
        #[arg(long, value_name = "SPN", requires = "keytab")]
        service_principal: Option<String>,
        /// Refuse calls below this level (none, connect, packet, integrity, privacy) with
        /// access denied, on every interface but the endpoint mapper.
        #[arg(long, value_name = "LEVEL", default_value = "none")]
        min_auth_level: msrpc::AuthnLevel,
        /// Refuse anonymous NTLM logons (direct or inside SPNEGO) everywhere, the endpoint mapper
        /// and mgmt included, with access denied. Without it they reach the endpoint mapper and
        /// mgmt only, as on Windows; the AsyncRPC sample refuses them either way.
        #[arg(long)]
        no_anonymous: bool,
        /// The transfer syntax taken when a client offers both NDR20 and NDR64 (as 64-bit Windows
        /// and msrpc clients do); a client offering only NDR20 gets NDR20 either way.
        #[arg(long, value_name = "SYNTAX", default_value = "ndr64")]
        prefer_syntax: SyntaxArg,
        /// Serve netlogon ([MS-NRPC]) too: a real NetrServerReqChallenge (NetrServerAuthenticate3
        /// too with --machines, then Schannel and NetrLogonGetCapabilities over the secure channel)
        /// and STATUS_NOT_SUPPORTED (or ERROR_NOT_SUPPORTED) for every other method
        /// (docs/interop.md).
        #[arg(long)]
        netlogon: bool,
        /// With --netlogon: how many computer names NetrServerReqChallenge remembers (the oldest
        /// is forgotten first).
        #[arg(long, value_name = "N", default_value_t = netlogon::DEFAULT_MAX_CHALLENGES,
              requires = "netlogon")]
        netlogon_max_challenges: usize,
        /// With --netlogon: serve NetrServerAuthenticate3 and NetrServerAuthenticate2 (AES) for the
        /// machine accounts in FILE, one `NAME:PASSWORD` per line (NAME with or without `$`), `#`
        /// comments, and accept Schannel with the secure channels they set up.
        #[arg(long, value_name = "FILE", requires = "netlogon")]
        machines: Option<std::path::PathBuf>,
    },
    /// Call mgmt is_server_listening and report the round-trip time.
    #[command(after_help = "\
Examples:
  msrpc ping ncacn_ip_tcp:127.0.0.1[135]
  msrpc ping --count 5 --json ncacn_ip_tcp:127.0.0.1[8765]
  MSRPC_PASSWORD=... msrpc ping --user CORP\\alice --auth-level privacy ncacn_ip_tcp:127.0.0.1[8765]")]
    Ping {
        /// The server's string binding, with the port.
        binding: String,
        /// How many calls to make (the first one also connects and binds).
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Give up on a call after this many milliseconds.
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        auth: auth::ClientAuthArgs,
        #[command(flatten)]
        smb: auth::SmbArgs,
    },
    /// List a server's shares (srvsvc NetrShareEnum, level 1).
    #[command(after_help = "\
Examples:
  MSRPC_PASSWORD=... msrpc shares --user 'DOMAIN\\USER' ncacn_np:HOST
  MSRPC_PASSWORD=... msrpc shares --json --smb-port 4455 --user msrpc ncacn_np:127.0.0.1

Columns: name, type (Disk, Printer, Device, IPC; special for the administrative ones), remark.")]
    Shares(tools::ToolArgs),
    /// List the users of a server's account domain (samr SamrEnumerateUsersInDomain).
    #[command(after_help = "\
Examples:
  MSRPC_PASSWORD=... msrpc users --user 'DOMAIN\\USER' ncacn_np:HOST
  MSRPC_PASSWORD=... msrpc users --json ncacn_ip_tcp:HOST

Columns: name, RID, domain, SID.")]
    Users(tools::ToolArgs),
    /// List the groups of a server: the account domain's groups and aliases, and Builtin's aliases (samr).
    #[command(after_help = "\
Examples:
  MSRPC_PASSWORD=... msrpc groups --user 'DOMAIN\\USER' ncacn_np:HOST

Columns: name, kind (group or alias), RID, domain, SID.")]
    Groups(tools::ToolArgs),
    /// Translate the account domain's RIDs to names (lsarpc LsarLookupSids), like impacket's lookupsid.py.
    #[command(after_help = "\
Examples:
  MSRPC_PASSWORD=... msrpc lookupsid --user 'DOMAIN\\USER' ncacn_np:HOST
  MSRPC_PASSWORD=... msrpc lookupsid --max-rid 1100 --json ncacn_np:HOST

Prints the domain SID, then `RID: DOMAIN\\NAME (SidTypeUser)` per RID that maps.")]
    Lookupsid(tools::LookupsidArgs),
    /// List the Win32 services of a server's Service Control Manager (svcctl REnumServicesStatusW).
    #[command(after_help = "\
Examples:
  MSRPC_PASSWORD=... msrpc services --user 'DOMAIN\\USER' ncacn_np:HOST

Columns: name, state (RUNNING, STOPPED, ...), display name.")]
    Services(tools::ToolArgs),
    /// The registry (winreg).
    #[command(
        subcommand,
        after_help = "\
Examples:
  MSRPC_PASSWORD=... msrpc reg query --user 'DOMAIN\\USER' ncacn_np:HOST 'HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion'"
    )]
    Reg(tools::RegCommand),
    /// Read the newest records of an event log (eventlog ElfrReadELW, backwards).
    #[command(after_help = "\
Examples:
  MSRPC_PASSWORD=... msrpc eventlog --user 'DOMAIN\\USER' ncacn_np:HOST System
  MSRPC_PASSWORD=... msrpc eventlog --count 5 --json ncacn_np:HOST Application

--json gives each record's source as `name`.")]
    Eventlog(tools::EventlogArgs),
    /// List the interfaces a server offers (mgmt inq_if_ids).
    #[command(after_help = "\
Examples:
  msrpc ifids ncacn_ip_tcp:127.0.0.1[135]
  MSRPC_PASSWORD=... msrpc ifids --user 'DOMAIN\\USER' 'ncacn_np:HOST[\\pipe\\srvsvc]'
  MSRPC_PASSWORD=... msrpc ifids --smb-port 4455 --user msrpc --auth-level none 'ncacn_np:127.0.0.1[\\pipe\\epmapper]'")]
    Ifids {
        /// The server's string binding, with the port.
        binding: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        auth: auth::ClientAuthArgs,
        #[command(flatten)]
        smb: auth::SmbArgs,
    },
    /// List every endpoint an endpoint mapper has registered (ept_lookup), like rpcdump.
    #[command(after_help = "\
Examples:
  msrpc epm ncacn_ip_tcp:127.0.0.1
  msrpc epm --json ncacn_ip_tcp:127.0.0.1[1350]
  MSRPC_PASSWORD=... msrpc epm --user msrpc --auth-level none ncacn_np:HOST

Without an endpoint the binding names port 135 (\\pipe\\epmapper for ncacn_np). Columns: interface UUID, version, the endpoint
as a string binding, the annotation the server registered, and the name of well-known
interfaces.")]
    Epm {
        /// The endpoint mapper's string binding (port 135 unless given).
        binding: String,
        /// Give up after this many milliseconds per call.
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        auth: auth::ClientAuthArgs,
        #[command(flatten)]
        smb: auth::SmbArgs,
    },
    /// Compile an IDL file (and its ACF) to Rust client and server stubs, as build.rs would, or
    /// to C stubs for libmsrpc_c (--lang c).
    #[command(after_help = "\
Examples:
  msrpc idl idl/asyncrpc.idl --acf idl/asyncrpc.acf -o asyncrpc.rs
  msrpc idl --lang c asyncrpc.idl --acf asyncrpc.acf -o build/   (asyncrpc.h, asyncrpc_c.c, asyncrpc_s.c)
  msrpc idl -I idl idl/srvsvc.idl

Exit codes: 0 success; 1 the output could not be written; 2 the IDL or ACF has errors,
printed as file:line:col with the source line and a caret.")]
    Idl(idl::IdlArgs),
    /// Benchmarks: speed side by side with the raw TCP limit and the peers (a table, or --json), or
    /// the soak (--soak): N clients with K outstanding calls each, with cancels and disconnects.
    Bench(Box<bench::BenchArgs>),
}

/// The log filter: `--log-level`, else `RUST_LOG`, else `MSRPC_LOG`, else `warn`. A bare level
/// applies to msrpc's own crates (the other crates stay at `warn`); anything else is an `EnvFilter`
/// directive list as `RUST_LOG` takes. Returns the directives, checked.
fn log_filter(flag: Option<&str>) -> Result<String, String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let (spec, from) = match flag {
        Some(f) => (f.to_string(), "--log-level"),
        None => match env("RUST_LOG") {
            Some(v) => (v, "RUST_LOG"),
            None => match env("MSRPC_LOG") {
                Some(v) => (v, "MSRPC_LOG"),
                None => ("warn".to_string(), "the default"),
            },
        },
    };
    let level = spec.trim().to_ascii_lowercase();
    let spec = match level.as_str() {
        "off" => level,
        "error" | "warn" | "info" | "debug" | "trace" => {
            format!("warn,msrpc={level},msrpc_proto={level},msrpc_cli={level}")
        }
        _ => spec,
    };
    tracing_subscriber::EnvFilter::try_new(&spec)
        .map_err(|e| format!("{from}: bad log filter {spec:?}: {e}"))?;
    Ok(spec)
}

/// Counts live heap bytes for `msrpc bench` (see `heap.rs`).
#[global_allocator]
static ALLOCATOR: heap::Counting = heap::Counting;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = match log_filter(cli.log_level.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("msrpc: {e}");
            return ExitCode::from(2);
        }
    };
    logging::init(filter);
    let result = match cli.command {
        Command::Demo { delay, json } => demo::run(delay, json),
        Command::Serve {
            listen,
            allow_remote_shutdown,
            max_calls,
            max_connections,
            verbose,
            epm,
            epm_port,
            epm_address,
            register_with,
            json,
            users,
            keytab,
            service_principal,
            min_auth_level,
            no_anonymous,
            prefer_syntax,
            netlogon,
            netlogon_max_challenges,
            machines,
        } => serve(
            listen,
            allow_remote_shutdown,
            (max_calls, max_connections, prefer_syntax.into()),
            verbose,
            EpmMode {
                serve: epm.then_some((epm_address, epm_port)),
                register_with,
            },
            json,
            ServeAuth {
                users,
                keytab,
                service_principal,
                min_auth_level,
                no_anonymous,
            },
            netlogon.then_some((netlogon_max_challenges, machines)),
        ),
        Command::Ping {
            binding,
            count,
            timeout_ms,
            json,
            auth,
            smb,
        } => ping(&binding, count, timeout_ms, json, &auth, &smb),
        Command::Ifids {
            binding,
            json,
            auth,
            smb,
        } => ifids(&binding, json, &auth, &smb),
        Command::Epm {
            binding,
            timeout_ms,
            json,
            auth,
            smb,
        } => epm::run(&binding, json, timeout_ms, &auth, &smb),
        Command::Shares(args) => tools::shares(&args),
        Command::Users(args) => tools::users(&args),
        Command::Groups(args) => tools::groups(&args),
        Command::Lookupsid(args) => tools::lookupsid(&args),
        Command::Services(args) => tools::services(&args),
        Command::Reg(cmd) => tools::reg(&cmd),
        Command::Eventlog(args) => tools::eventlog(&args),
        Command::Idl(args) => return idl::run(args),
        Command::Bench(args) => return bench::run(*args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("{f}");
            ExitCode::from(f.exit_code())
        }
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::other(format!("cannot start the async runtime: {e}")))
}

/// The sample's server-side behaviour for `msrpc serve`.
struct ServeHandler {
    verbose: bool,
    allow_shutdown: bool,
    server: Arc<OnceLock<Server>>,
}

impl AsyncRpcHandler for ServeHandler {
    fn non_async_func(&self, message: &[u8]) {
        if self.verbose {
            outln!("NonAsyncFunc: {}", String::from_utf8_lossy(message));
        }
    }

    fn shutdown(&self) -> Result<(), Win32Status> {
        if !self.allow_shutdown {
            return Err(Win32Status::ERROR_ACCESS_DENIED);
        }
        if let Some(s) = self.server.get() {
            let s = s.clone();
            tokio::spawn(async move { s.shutdown(Duration::from_secs(5)).await });
        }
        Ok(())
    }
}

/// `msrpc serve`'s endpoint mapper options.
struct EpmMode {
    /// Serve the endpoint mapper at this address and port.
    serve: Option<(std::net::Ipv4Addr, u16)>,
    /// Register with the endpoint mapper at this binding.
    register_with: Option<String>,
}

/// A transfer syntax on the command line.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum SyntaxArg {
    /// NDR 2.0 (8a885d04-1ceb-11c9-9fe8-08002b104860 v2).
    Ndr20,
    /// NDR64 (71710533-beba-4937-8319-b5dbef9ccc36 v1).
    Ndr64,
}

impl From<SyntaxArg> for msrpc::Syntax {
    fn from(s: SyntaxArg) -> Self {
        match s {
            SyntaxArg::Ndr20 => msrpc::Syntax::Ndr20,
            SyntaxArg::Ndr64 => msrpc::Syntax::Ndr64,
        }
    }
}

/// `msrpc serve`'s authentication options.
struct ServeAuth {
    users: Option<std::path::PathBuf>,
    keytab: Option<std::path::PathBuf>,
    service_principal: Option<String>,
    min_auth_level: msrpc::AuthnLevel,
    no_anonymous: bool,
}

#[allow(clippy::too_many_arguments)]
fn serve(
    listen: Vec<String>,
    allow_remote_shutdown: bool,
    (max_calls, max_connections, preferred_syntax): (usize, usize, msrpc::Syntax),
    verbose: bool,
    epm: EpmMode,
    json: bool,
    auth: ServeAuth,
    netlogon: Option<(usize, Option<std::path::PathBuf>)>,
) -> Result<(), Failure> {
    let netlogon = match netlogon {
        Some((max_challenges, machines)) => {
            let server = netlogon::NetlogonServer::new(max_challenges);
            Some(match machines {
                Some(path) => server.with_machines(
                    netlogon::Machines::from_file(&path)
                        .map_err(|e| Failure::usage(format!("machines file {e}")))?,
                ),
                None => server,
            })
        }
        None => None,
    };
    let users = match &auth.users {
        Some(path) => Some(Arc::new(
            msrpc::UserStore::from_file(path)
                .map_err(|e| Failure::usage(format!("users file {e}")))?,
        )),
        None => None,
    };
    let kerberos = match &auth.keytab {
        Some(path) => {
            let keytab = msrpc::Keytab::from_file(path).map_err(|e| Failure::usage(e.detail))?;
            // The KDC is only asked for user-to-user tickets, which msrpc's server does not use.
            let service = msrpc::KerberosService::from_keytab(
                &keytab,
                auth.service_principal.as_deref(),
                "tcp://127.0.0.1:88",
            )
            .map_err(|e| Failure::usage(format!("keytab {}: {}", path.display(), e.detail)))?;
            Some(service)
        }
        None => None,
    };
    if users.is_none() && kerberos.is_none() && auth.min_auth_level > msrpc::AuthnLevel::None {
        return Err(Failure::usage(
            "--min-auth-level needs --users FILE or --keytab FILE: without accounts no client \
             can log on",
        ));
    }
    let rt = runtime()?;
    rt.block_on(async move {
        let slot = Arc::new(OnceLock::new());
        let handler = ServeHandler {
            verbose,
            allow_shutdown: allow_remote_shutdown,
            server: slot.clone(),
        };
        let mut config = ServerConfig::default();
        config.max_calls = max_calls;
        config.max_connections = max_connections;
        config.allow_remote_stop = allow_remote_shutdown;
        config.preferred_syntax = preferred_syntax;
        let mut builder = Server::builder()
            .config(config)
            .interface(Arc::new(msrpc_sample::service(handler)))
            .min_auth_level(auth.min_auth_level);
        if let Some(netlogon) = netlogon {
            if netlogon.serves_schannel() {
                builder = builder.schannel(netlogon.schannel_keys());
            }
            builder = builder.interface(Arc::new(netlogon));
        }
        if let Some(users) = users {
            builder = builder.authentication(users);
        }
        if let Some(service) = kerberos {
            builder = builder.kerberos(service);
        }
        if auth.no_anonymous {
            builder = builder.refuse_anonymous();
        }
        for l in listen {
            builder = builder.listen(l);
        }
        if let Some((address, port)) = epm.serve {
            builder = builder.endpoint_mapper(format!("ncacn_ip_tcp:{address}[{port}]"));
        }
        if let Some(b) = epm.register_with {
            builder = builder.register_with_endpoint_mapper(b);
        }
        let server = builder.start().await.map_err(Failure::rpc)?;
        let _ = slot.set(server.clone());
        for b in server.bindings() {
            if json {
                outln!("{}", serde_json::json!({ "listening": b.to_string() }));
            } else {
                outln!("listening on {b}");
            }
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| Failure::other(format!("cannot handle SIGTERM: {e}")))?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            _ = server.stopped() => {}
        }
        eprintln!("stopping: letting calls in progress finish (up to 5 s)");
        server.shutdown(Duration::from_secs(5)).await;
        Ok(())
    })
}

fn ping(
    binding: &str,
    count: u32,
    timeout_ms: u64,
    json: bool,
    auth: &auth::ClientAuthArgs,
    smb: &auth::SmbArgs,
) -> Result<(), Failure> {
    let rt = runtime()?;
    let mut options = BindingOptions::default();
    options.call_timeout = Some(Duration::from_millis(timeout_ms));
    options.connect_timeout = Duration::from_millis(timeout_ms);
    auth.apply(&mut options)?;
    smb.apply(&mut options);
    let b = Binding::with_options(binding, options).map_err(Failure::rpc)?;
    let mut rtts = Vec::new();
    rt.block_on(async {
        for _ in 0..count.max(1) {
            let t0 = Instant::now();
            let listening = mgmt::is_server_listening(&b).await.map_err(Failure::rpc)?;
            let rtt = t0.elapsed();
            if !json {
                outln!(
                    "{binding}: is_server_listening = {listening}, round trip {:.3} ms",
                    rtt.as_secs_f64() * 1e3
                );
            }
            rtts.push((listening, rtt));
        }
        Ok::<(), Failure>(())
    })?;
    if json {
        let v = serde_json::json!({
            "binding": binding,
            "calls": rtts.iter().map(|(l, r)| serde_json::json!({
                "listening": l, "rtt_ms": r.as_secs_f64() * 1e3
            })).collect::<Vec<_>>(),
        });
        outln!("{v}");
    }
    Ok(())
}

fn ifids(
    binding: &str,
    json: bool,
    auth: &auth::ClientAuthArgs,
    smb: &auth::SmbArgs,
) -> Result<(), Failure> {
    let rt = runtime()?;
    let mut options = BindingOptions::default();
    auth.apply(&mut options)?;
    smb.apply(&mut options);
    let b = Binding::with_options(binding, options).map_err(Failure::rpc)?;
    let ids = rt.block_on(mgmt::inq_if_ids(&b)).map_err(Failure::rpc)?;
    if json {
        let v: Vec<_> = ids
            .iter()
            .map(|i| {
                serde_json::json!({
                    "uuid": i.uuid.to_string(),
                    "version": format!("{}.{}", i.major, i.minor),
                    "name": known_interface_name(&i.uuid),
                })
            })
            .collect();
        outln!("{}", serde_json::Value::Array(v));
    } else {
        outln!("{:<38} {:<8} NAME", "UUID", "VERSION");
        for i in &ids {
            outln!(
                "{:<38} {:<8} {}",
                i.uuid.to_string(),
                format!("{}.{}", i.major, i.minor),
                known_interface_name(&i.uuid).unwrap_or("")
            );
        }
    }
    Ok(())
}
