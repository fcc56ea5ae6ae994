//! `msrpc idl`: compiles an IDL file (and its ACF) to Rust with msrpc-idl, as `build.rs` would.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `msrpc idl`.
#[derive(clap::Args, Debug)]
pub(crate) struct IdlArgs {
    /// The MIDL interface file.
    file: PathBuf,
    /// The ACF (`[async]`, `[explicit_handle]`, ...). Default: FILE's name with `.acf`, if it exists
    /// (as MIDL does).
    #[arg(long, value_name = "FILE.acf")]
    acf: Option<PathBuf>,
    /// Write the Rust here instead of to standard output; with `--lang c`, the directory the
    /// three C files go to (default: the current directory).
    #[arg(short = 'o', long = "out", value_name = "OUT.rs|DIR")]
    out: Option<PathBuf>,
    /// The language of the stubs: `rust` (default), or `c` for libmsrpc_c (`STEM.h`, `STEM_c.c`,
    /// `STEM_s.c` with MIDL's names; docs/c-abi.md).
    #[arg(long, default_value = "rust", value_parser = ["rust", "c"])]
    lang: String,
    /// A directory searched for `import` and `#include` files; repeat for several.
    #[arg(short = 'I', long = "include", value_name = "DIR")]
    include: Vec<PathBuf>,
    /// The path generated code names the runtime through.
    #[arg(long, default_value = "::msrpc::codegen", value_name = "PATH")]
    runtime_path: String,
    /// Leave out the client layer (`Client`).
    #[arg(long)]
    no_client: bool,
}

/// Exit codes: 0 success; 1 the output could not be written; 2 the IDL or ACF has errors (printed
/// as `file:line:col: error: ...` with the source line and a caret).
pub(crate) fn run(args: IdlArgs) -> ExitCode {
    let acf = args.acf.clone().or_else(|| {
        let beside = args.file.with_extension("acf");
        beside.is_file().then_some(beside)
    });
    let mut builder = msrpc_idl::Builder::new()
        .runtime_path(args.runtime_path)
        .client(!args.no_client);
    for dir in args.include {
        builder = builder.include_dir(dir);
    }
    if args.lang == "c" {
        return run_c(&builder, &args.file, acf.as_deref(), args.out.as_deref());
    }
    let code = match builder.generate(&args.file, acf.as_deref()) {
        Ok(code) => code,
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            return ExitCode::from(2);
        }
    };
    match args.out {
        None => {
            print!("{code}");
            ExitCode::SUCCESS
        }
        Some(path) => match std::fs::write(&path, code) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                ExitCode::from(1)
            }
        },
    }
}

/// `--lang c`: writes `DIR/STEM.h`, `DIR/STEM_c.c` and `DIR/STEM_s.c`.
fn run_c(
    builder: &msrpc_idl::Builder,
    file: &std::path::Path,
    acf: Option<&std::path::Path>,
    out: Option<&std::path::Path>,
) -> ExitCode {
    let stubs = match builder.generate_c(file, acf) {
        Ok(s) => s,
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            return ExitCode::from(2);
        }
    };
    let dir = out.unwrap_or(std::path::Path::new("."));
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("error: cannot create {}: {e}", dir.display());
        return ExitCode::from(1);
    }
    for (name, text) in [
        (format!("{}.h", stubs.stem), &stubs.header),
        (format!("{}_c.c", stubs.stem), &stubs.client),
        (format!("{}_s.c", stubs.stem), &stubs.server),
    ] {
        let path = dir.join(name);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}
