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
    /// Write the Rust here instead of to standard output.
    #[arg(short = 'o', long = "out", value_name = "OUT.rs")]
    out: Option<PathBuf>,
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
