//! Building and running the C programs of the tests: stubs from msrpc-idl, `cc -Wall -Werror`
//! against libmsrpc_c (the cdylib cargo built beside this test), a bounded run.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use msrpc::Win32Status;
use msrpc::server::Server;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The directory holding libmsrpc_c.so: `deps/` beside this test binary, where `cargo test`
/// builds the cdylib afresh (it copies it up to the profile directory only on `cargo build`).
pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().to_path_buf();
    assert!(
        dir.join("libmsrpc_c.so").is_file(),
        "libmsrpc_c.so not found in {} (cargo builds it with the tests)",
        dir.display()
    );
    dir
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("msrpc-c-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes the C stubs of `idl` (with `acf`) into `dir`, as `msrpc idl --lang c` does.
pub fn stubs(idl: &Path, acf: Option<&Path>, dir: &Path) -> String {
    let s = msrpc_idl::Builder::new().generate_c(idl, acf).unwrap();
    std::fs::write(dir.join(format!("{}.h", s.stem)), &s.header).unwrap();
    std::fs::write(dir.join(format!("{}_c.c", s.stem)), &s.client).unwrap();
    std::fs::write(dir.join(format!("{}_s.c", s.stem)), &s.server).unwrap();
    s.stem
}

/// `cc -Wall -Werror` of `sources` into `out`, with the stubs' directory and the headers on the
/// include path, linked with -lmsrpc_c (and `extra` flags, e.g. -fsanitize=address).
pub fn cc(dir: &Path, sources: &[PathBuf], out: &Path, extra: &[&str]) {
    let include = root().join("crates/msrpc-c/include");
    let lib = lib_dir();
    let mut cmd = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()));
    cmd.args(["-std=c11", "-D_DEFAULT_SOURCE", "-Wall", "-Werror", "-g"])
        .args(extra)
        .arg("-I")
        .arg(dir)
        .arg("-I")
        .arg(&include)
        .args(sources)
        .arg("-o")
        .arg(out)
        .arg(format!("-L{}", lib.display()))
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-lmsrpc_c");
    let o = cmd
        .output()
        .expect("a C compiler (cc) is needed for these tests");
    assert!(
        o.status.success(),
        "cc failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A finished run.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// The port of a C server started with endpoint `0` and `MSRPC_LISTEN_ADDRESS=127.0.0.1`, read
/// from the line the library prints on its standard error (the file `err`): waits up to 20 s,
/// then fails with that file's text (and `out`'s, when given).
pub fn listening_port(err: &Path, out: Option<&Path>) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(err).unwrap_or_default();
        if let Some(rest) = text.split("listening on ncacn_ip_tcp:127.0.0.1[").nth(1)
            && let Some(p) = rest.split(']').next().and_then(|p| p.parse::<u16>().ok())
        {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "the C server never listened: {text} {}",
            out.map(|o| std::fs::read_to_string(o).unwrap_or_default())
                .unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `exe` with `args`, killing it after `limit`.
pub fn run(exe: &Path, args: &[&str], env: &[(&str, &str)], limit: Duration) -> Run {
    // The library cargo just built, not a stale copy an inherited LD_LIBRARY_PATH could name.
    let mut child = Command::new(exe)
        .args(args)
        .env("LD_LIBRARY_PATH", lib_dir())
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    Run {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// The messages the sample server received (NonAsyncFunc).
#[derive(Default, Clone)]
pub struct Log(pub Arc<Mutex<Vec<String>>>);

struct Handler(Log);

impl msrpc_sample::AsyncRpcHandler for Handler {
    fn non_async_func(&self, message: &[u8]) {
        let m = String::from_utf8_lossy(message).into_owned();
        self.0.0.lock().unwrap().push(m);
    }
    fn shutdown(&self) -> Result<(), Win32Status> {
        // As `msrpc serve` without --allow-shutdown.
        Err(Win32Status::ERROR_ACCESS_DENIED)
    }
}

/// The Rust sample server (what `msrpc serve` serves) on an ephemeral loopback port.
pub struct SampleServer {
    pub rt: tokio::runtime::Runtime,
    pub server: Server,
    pub port: u16,
    pub log: Log,
}

impl SampleServer {
    pub fn start() -> SampleServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let log = Log::default();
        let server = rt.block_on(async {
            Server::builder()
                .interface(Arc::new(msrpc_sample::service(Handler(log.clone()))))
                .listen("ncacn_ip_tcp:127.0.0.1[0]")
                .start()
                .await
                .unwrap()
        });
        let b = server.bindings()[0].to_string();
        let port = b
            .rsplit_once('[')
            .and_then(|(_, p)| p.trim_end_matches(']').parse().ok())
            .unwrap();
        SampleServer {
            rt,
            server,
            port,
            log,
        }
    }

    pub fn stop(self) {
        self.rt
            .block_on(self.server.shutdown(Duration::from_secs(5)));
    }
}

/// The sample's C stubs in a scratch directory (from examples/c/asyncrpc's IDL and ACF).
pub fn asyncrpc_stubs(name: &str) -> PathBuf {
    let dir = scratch(name);
    let ex = root().join("examples/c/asyncrpc");
    stubs(
        &ex.join("asyncrpc.idl"),
        Some(&ex.join("asyncrpc.acf")),
        &dir,
    );
    dir
}

/// Builds one of examples/c/asyncrpc's programs with the sample's client stubs.
pub fn build_example(name: &str, program: &str, extra: &[&str]) -> PathBuf {
    let path = format!("examples/c/asyncrpc/{program}");
    build_with_sample(name, &path, "asyncrpc_c.c", extra).1
}

/// Builds the C program at `program` (a path below the repository root) with the sample's
/// stubs `stubs` (`asyncrpc_c.c` for a client, `asyncrpc_s.c` for a server) in the scratch
/// directory `name`; returns the directory and the executable (named after the source).
pub fn build_with_sample(
    name: &str,
    program: &str,
    stubs: &str,
    extra: &[&str],
) -> (PathBuf, PathBuf) {
    let dir = asyncrpc_stubs(name);
    let source = root().join(program);
    let stem = source.file_stem().unwrap().to_string_lossy().into_owned();
    let exe = dir.join(stem);
    cc(&dir, &[source, dir.join(stubs)], &exe, extra);
    (dir, exe)
}
