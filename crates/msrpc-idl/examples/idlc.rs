//! Compiles one IDL file (and optional ACF) and prints the Rust: `idlc FILE.idl [FILE.acf]`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(idl) = args.first() else {
        eprintln!("usage: idlc FILE.idl [FILE.acf]");
        std::process::exit(2);
    };
    let acf = args.get(1).map(std::path::Path::new);
    match msrpc_idl::compile_to_string(idl, acf) {
        Ok(code) => print!("{code}"),
        Err(diags) => {
            eprintln!("{diags}");
            std::process::exit(1);
        }
    }
}
